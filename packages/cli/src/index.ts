export { BACKEND_CHOICES, backendOption } from './options/backend-option.js';
export { createProgram } from './program.js';
export { runCli } from './run-cli.js';
