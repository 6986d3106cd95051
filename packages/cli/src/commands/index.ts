import type { Command } from 'commander';
import { registerMergeCommand } from './merge.js';

/** Adds every command to the program. One file per command in this folder. */
export function registerCommands(program: Command): void {
  void program;
  registerMergeCommand(program);
}
