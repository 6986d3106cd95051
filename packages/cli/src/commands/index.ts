import type { Command } from 'commander';
import { registerDemoCommand } from './demo.js';
import { registerEvalCommand } from './eval.js';
import { registerGenerateCommand } from './generate.js';
import { registerMergeCommand } from './merge.js';

/** Adds every command to the program. One file per command in this folder. */
export function registerCommands(program: Command): void {
  registerDemoCommand(program);
  registerMergeCommand(program);
  registerEvalCommand(program);
  registerGenerateCommand(program);
}
