export { BACKEND_CHOICES, backendOption, createProgram } from './program.js';
export { runCli } from './run-cli.js';
