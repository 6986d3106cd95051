import type { Command } from 'commander';
import { registerAlignCommand } from './align.js';
import { registerCaptureCommand } from './capture.js';
import { registerDemoCommand } from './demo.js';
import { registerEvalCommand } from './eval.js';
import { registerExportCommand } from './export.js';
import { registerGenerateCommand } from './generate.js';
import { registerMergeCommand } from './merge.js';
import { registerPlanCommand } from './plan.js';
import { registerRunCommand } from './run.js';
import { registerServeCommand } from './serve.js';
import { registerStoreCommand } from './store.js';
import { registerTrainCommand } from './train.js';

/** Adds every command to the program. One file per command in this folder. */
export function registerCommands(program: Command): void {
  registerDemoCommand(program);
  registerRunCommand(program);
  registerPlanCommand(program);
  registerCaptureCommand(program);
  registerAlignCommand(program);
  registerStoreCommand(program);
  registerExportCommand(program);
  registerTrainCommand(program);
  registerMergeCommand(program);
  registerEvalCommand(program);
  registerGenerateCommand(program);
  registerServeCommand(program);
}
