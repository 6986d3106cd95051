// The CLI reference, rendered from the commander program itself: the same usage, descriptions,
// arguments, options, defaults and choices `--help` prints, so the page cannot drift from the code.
import type { Argument, Command, Option } from 'commander';
import { cellCode, code, fencedBlock, generatedNotice, headingAnchor, table, tableCell } from './markdown.js';

/** Options every command has; described once at the top instead of in every table. */
const EVERYWHERE = new Set(['--help', '--version']);

export interface CliReferenceOptions {
  /** The command that regenerates the page (named in its first line). */
  readonly regenerate: string;
}

/** Every command below `command`, depth first, in registration order (the implicit `help` excluded). */
export function walkCommands(command: Command): Command[] {
  const help = command.createHelp();
  return help
    .visibleCommands(command)
    .filter((sub) => command.commands.includes(sub))
    .flatMap((sub) => [sub, ...walkCommands(sub)]);
}

/** `fusechat store inspect` for the `inspect` subcommand of `store`. */
export function commandPath(command: Command): string {
  const names: string[] = [];
  for (let at: Command | null = command; at; at = at.parent) names.unshift(at.name());
  return names.join(' ');
}

/** What `addHelpText('before' | 'after', …)` adds to a command's own `--help`. */
function extraHelp(command: Command, event: 'beforeHelp' | 'afterHelp'): string {
  let text = '';
  command.emit(event, { error: false, command, write: (chunk: string) => (text += chunk) });
  return text.replace(/^\n+/, '').replace(/\s+$/, '');
}

/** A default as the user types it: strings bare (`auto`), anything else as JSON (`""`, `[]`). */
function defaultText(value: unknown, description: string | undefined): string {
  if (description) return cellCode(description);
  if (value === undefined) return '';
  return cellCode(typeof value === 'string' && value !== '' ? value : JSON.stringify(value));
}

function choicesText(choices: readonly string[] | undefined): string {
  return choices ? choices.map((choice) => cellCode(choice)).join(', ') : '';
}

function optionRow(option: Option): string[] {
  const flags = [cellCode(option.flags)];
  if (option.mandatory) flags.push('(required)');
  const description = [option.description];
  if (option.envVar) description.push(`Environment: ${code(option.envVar)}.`);
  if (option.presetArg !== undefined)
    description.push(`Without a value: ${code(JSON.stringify(option.presetArg))}.`);
  // Commander itself shows a boolean flag's default only when it is a boolean; `false` is noise.
  const shownDefault = option.isBoolean() && option.defaultValue === false ? undefined : option.defaultValue;
  return [
    flags.join(' '),
    tableCell(description.filter(Boolean).join(' ')),
    defaultText(shownDefault, option.defaultValueDescription),
    choicesText(option.argChoices),
  ];
}

/** `<config>`, `[files...]`: how the usage line writes the argument. */
function argumentTerm(argument: Argument): string {
  const name = `${argument.name()}${argument.variadic ? '...' : ''}`;
  return argument.required ? `<${name}>` : `[${name}]`;
}

function argumentRow(argument: Argument): string[] {
  return [
    cellCode(argumentTerm(argument)),
    argument.required ? 'yes' : 'no',
    tableCell(argument.description),
    defaultText(argument.defaultValue, argument.defaultValueDescription),
    choicesText(argument.argChoices),
  ];
}

function commandSection(command: Command, level: number): string[] {
  const help = command.createHelp();
  const path = commandPath(command);
  const lines = [`${'#'.repeat(level)} ${code(path)}`, ''];
  const description = help.commandDescription(command);
  if (description) lines.push(tableCellFreeText(description), '');
  lines.push(...fencedBlock('text', `Usage: ${help.commandUsage(command)}`), '');
  const before = extraHelp(command, 'beforeHelp');
  if (before) lines.push(...fencedBlock('text', before), '');

  const subcommands = help.visibleCommands(command).filter((sub) => command.commands.includes(sub));
  if (subcommands.length > 0) {
    lines.push(
      ...table(
        ['subcommand', 'description'],
        subcommands.map((sub) => [
          `[${cellCode(sub.name())}](#${headingAnchor(commandPath(sub))})`,
          tableCell(help.subcommandDescription(sub)),
        ]),
      ),
      '',
    );
  }
  const args = help.visibleArguments(command);
  if (args.length > 0) {
    lines.push(
      'Arguments:',
      '',
      ...table(['argument', 'required', 'description', 'default', 'choices'], args.map(argumentRow)),
      '',
    );
  }
  const options = help.visibleOptions(command).filter((option) => !EVERYWHERE.has(option.long ?? ''));
  if (options.length > 0) {
    lines.push(
      'Options:',
      '',
      ...table(['option', 'description', 'default', 'choices'], options.map(optionRow)),
      '',
    );
  }
  const after = extraHelp(command, 'afterHelp');
  if (after) lines.push(...fencedBlock('text', after), '');
  return lines;
}

/** A command description as a paragraph: `<`/`>` escaped outside code spans, line breaks kept. */
function tableCellFreeText(text: string): string {
  return tableCell(text).replace(/\\\|/g, '|').replace(/<br>/g, '  \n');
}

/**
 * The Markdown CLI reference of `program`: an index of every command, then per command (and
 * subcommand) its description, usage line, arguments and options (flags, description, default,
 * choices, required) and the extra text its `--help` prints.
 *
 * @example
 * ```ts
 * const markdown = renderCliReference(createProgram(), { regenerate: 'npm run docs:reference' });
 * ```
 */
export function renderCliReference(program: Command, options: CliReferenceOptions): string {
  const help = program.createHelp();
  const commands = walkCommands(program);
  const globalOptions = help.visibleOptions(program);
  const lines = [
    generatedNotice('the commander definitions in packages/cli/src/commands', options.regenerate),
    '',
    `# CLI reference: \`${program.name()}\``,
    '',
    tableCellFreeText(help.commandDescription(program)),
    '',
    'Generated from the commands’ own definitions: what follows is what `--help` prints, as tables.',
    'Every command also takes `-h, --help` (print its help) and `--version` (print the version).',
    'Usage errors and bad input exit with a non-zero code and one line `fusechat: <reason> [CODE]`',
    '(codes: [errors](../errors.md)).',
    '',
    ...fencedBlock('text', `Usage: ${help.commandUsage(program)}`),
    '',
    ...table(
      ['option', 'description', 'default', 'choices'],
      globalOptions.filter((option) => option.long !== '--help').map(optionRow),
    ),
    '',
    '## Commands',
    '',
    ...table(
      ['command', 'description'],
      commands.map((command) => [
        `[${cellCode(commandPath(command))}](#${headingAnchor(commandPath(command))})`,
        tableCell(help.subcommandDescription(command).split('\n')[0] ?? ''),
      ]),
    ),
    '',
  ];
  for (const command of commands) {
    const depth = commandPath(command).split(' ').length - 1;
    lines.push(...commandSection(command, Math.min(1 + depth, 6)));
  }
  return `${lines
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trimEnd()}\n`;
}
