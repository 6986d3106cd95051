import { runCli } from './run-cli.js';

runCli(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`fusechat: ${String(error)}\n`);
    process.exitCode = 1;
  },
);
