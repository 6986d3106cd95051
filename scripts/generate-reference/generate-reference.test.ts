import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createProgram } from '../../packages/cli/src/program.js';
import { trainConfigJsonSchema } from '../../packages/training/src/config/train-config-json-schema.js';
import { commandPath, renderCliReference, walkCommands } from './cli-reference.js';
import {
  defaultFromDescription,
  describeType,
  type JsonSchema,
  renderJsonSchemaReference,
  schemaRows,
} from './json-schema-reference.js';
import { headingAnchor, tableCell } from './markdown.js';
import {
  GENERATED_REFERENCES,
  REGENERATE_COMMAND,
  REGENERATE_COMMAND_EXPANDED,
  repoRoot,
} from './references.js';

describe('the committed reference pages', () => {
  for (const reference of GENERATED_REFERENCES) {
    it(`${reference.path} is what the generator produces`, async () => {
      const file = join(repoRoot, reference.path);
      const committed = existsSync(file) ? readFileSync(file, 'utf8') : '(missing)';
      const rendered = await reference.render();
      expect(
        committed,
        `${reference.path} is stale: regenerate it with \`${REGENERATE_COMMAND}\` (${REGENERATE_COMMAND_EXPANDED}) and commit it`,
      ).toBe(rendered);
    });
  }
});

/** A sample of the tables' rows as [first cell, rest] by their first cell. */
function rowsOf(markdown: string): Map<string, string> {
  const rows = new Map<string, string>();
  for (const line of markdown.split('\n')) {
    const match = /^\| (.+?) \| (.*) \|$/.exec(line);
    if (match) rows.set(match[1]!, match[2]!);
  }
  return rows;
}

/** The section of `markdown` under the heading `## \`path\`` (up to the next heading of that level or higher). */
function section(markdown: string, path: string): string {
  const lines = markdown.split('\n');
  const start = lines.findIndex((line) => /^#{2,6} `/.test(line) && line.endsWith(`\`${path}\``));
  if (start < 0) return '';
  const level = /^#+/.exec(lines[start]!)![0].length;
  const end = lines.findIndex(
    (line, index) => index > start && /^#+ /.test(line) && /^#+/.exec(line)![0].length <= level,
  );
  return lines.slice(start, end < 0 ? undefined : end).join('\n');
}

describe('renderCliReference', () => {
  function sampleProgram() {
    // Commander's own factories (the root has no direct commander dependency).
    const program = createProgram().createCommand('tool').description('A tool.').option('--verbose', 'talk');
    const run = program.createCommand('run').description('Run a | b config.\nSecond line <here>.');
    run
      .argument('<config>', 'the config file')
      .argument('[more...]', 'extra files')
      .requiredOption('--out <dir|file>', 'where <it> goes')
      .addOption(run.createOption('--mode <name>', 'how').choices(['fast', 'slow']).default('fast'))
      .option('--count <n>', 'how many', '3')
      .option('--no-cache', 'do not cache')
      .addHelpText('after', '\nExample:\n  tool run x.yml --out y');
    program.addCommand(run);
    const store = program.createCommand('store').description('Stores.');
    store.addCommand(store.createCommand('inspect').description('Summary.').argument('<store>', 'a store'));
    store.addCommand(store.createCommand('hidden-one').description('secret'), { hidden: true });
    program.addCommand(store);
    return program;
  }

  it('lists every command and subcommand depth first, hidden ones and the implicit help left out', () => {
    expect(walkCommands(sampleProgram()).map(commandPath)).toEqual([
      'tool run',
      'tool store',
      'tool store inspect',
    ]);
  });

  it('renders usage, arguments, options with defaults, choices and required, and the extra help text', () => {
    const markdown = renderCliReference(sampleProgram(), { regenerate: 'make docs' });
    expect(markdown.split('\n')[0]).toContain('run `make docs`');
    const run = section(markdown, 'tool run');
    expect(run).toContain('Usage: tool run [options] <config> [more...]');
    expect(run).toContain('Run a | b config.  \nSecond line &lt;here&gt;.');
    const rows = rowsOf(run);
    expect(rows.get('`<config>`')).toBe('yes | the config file |  | ');
    expect(rows.get('`[more...]`')).toBe('no | extra files |  | ');
    expect(rows.get('`--out <dir\\|file>` (required)')).toBe('where &lt;it&gt; goes |  | ');
    expect(rows.get('`--mode <name>`')).toBe('how | `fast` | `fast`, `slow`');
    expect(rows.get('`--count <n>`')).toBe('how many | `3` | ');
    expect(rows.get('`--no-cache`')).toBe('do not cache |  | ');
    expect(run).toContain('```text\nExample:\n  tool run x.yml --out y\n```');
    expect([...rows.keys()].some((key) => key.includes('--help'))).toBe(false);
    const store = section(markdown, 'tool store');
    expect(store).toContain('[`inspect`](#tool-store-inspect)');
    expect(store).not.toContain('hidden-one');
    expect(section(markdown, 'tool store inspect')).toMatch(/^### `tool store inspect`/);
  });

  it("covers every option of every command of fusechat's own program", () => {
    const program = createProgram();
    const markdown = renderCliReference(program, { regenerate: REGENERATE_COMMAND });
    const commands = walkCommands(program);
    expect(commands.map(commandPath)).toEqual(
      expect.arrayContaining(['fusechat capture', 'fusechat store dump', 'fusechat merge']),
    );
    for (const command of commands) {
      const text = section(markdown, commandPath(command));
      expect(text, commandPath(command)).not.toBe('');
      expect(markdown).toContain(`](#${headingAnchor(commandPath(command))})`);
      for (const option of command.options) {
        if (option.long === '--version') continue;
        expect(text, `${commandPath(command)} ${option.flags}`).toContain(
          `\`${option.flags.replace(/\|/g, '\\|')}\``,
        );
      }
    }
  });
});

describe('renderJsonSchemaReference', () => {
  const schema: JsonSchema = {
    type: 'object',
    description: 'A sample config.',
    additionalProperties: false,
    required: ['name', 'sources'],
    $defs: { Model: { type: 'object', properties: { path: { type: 'string', description: 'a | path' } } } },
    properties: {
      name: { type: 'string', pattern: '^[a-z]+$', description: 'The <name>.' },
      seed: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER, default: 7 },
      ratio: { type: 'number', minimum: 0, exclusiveMaximum: 1, description: 'A share (HF default 0.5).' },
      mode: { type: 'string', enum: ['a', 'b'] },
      limit: { anyOf: [{ type: 'integer', minimum: 1 }, { type: 'null' }] },
      pivot: { $ref: '#/$defs/Model' },
      sources: {
        type: 'array',
        minItems: 1,
        items: {
          type: 'object',
          required: ['name'],
          properties: { name: { type: 'string' }, tags: { type: 'array', items: { type: 'string' } } },
        },
      },
      weights: { type: 'object', additionalProperties: { type: 'number' } },
      range: { type: 'array', prefixItems: [{ type: 'integer' }, { type: 'integer' }] },
    },
  };

  it('flattens nested objects, $refs and list items into dotted rows, in schema order', () => {
    expect(schemaRows(schema).map((row) => [row.path, row.type, row.required, row.default])).toEqual([
      ['name', 'string (matching `^[a-z]+$`)', true, undefined],
      ['seed', 'integer ≥ 0', false, 7],
      ['ratio', 'number in [0, 1)', false, undefined],
      ['mode', '`"a"` | `"b"`', false, undefined],
      ['limit', 'integer ≥ 1 or null', false, undefined],
      ['pivot', 'object', false, undefined],
      ['pivot.path', 'string', false, undefined],
      ['sources', 'object[] (≥ 1 item)', true, undefined],
      ['sources[].name', 'string', true, undefined],
      ['sources[].tags', 'string[]', false, undefined],
      ['weights', 'map of string → number', false, undefined],
      ['range', '[integer, integer]', false, undefined],
    ]);
  });

  it('renders one escaped table row per key with the default from the schema or the description', () => {
    const markdown = renderJsonSchemaReference(schema, {
      title: 'Sample',
      source: 'x()',
      regenerate: 'make docs',
    });
    const rows = rowsOf(markdown);
    expect(rows.get('`name`')).toBe('string (matching `^[a-z]+$`) | yes |  | The &lt;name&gt;.');
    expect(rows.get('`seed`')).toBe('integer ≥ 0 |  | `7` | ');
    expect(rows.get('`ratio`')).toBe('number in [0, 1) |  | `0.5` | A share (HF default 0.5).');
    expect(rows.get('`mode`')).toBe('`"a"` \\| `"b"` |  |  | ');
    expect(rows.get('`pivot.path`')).toBe('string |  |  | a \\| path');
    expect(markdown).toContain('> A sample config.');
    expect(markdown).toContain('Unknown keys are refused');
  });

  it('reads defaults stated in descriptions the way the config schemas write them', () => {
    expect(defaultFromDescription('Seed (default 42).')).toBe('42');
    expect(defaultFromDescription('AdamW β1 (default 0.9).')).toBe('0.9');
    expect(defaultFromDescription('λ (FuseChat default 0.9).')).toBe('0.9');
    expect(defaultFromDescription('clipping (default 1.0; 0 or null turns it off)')).toBe('1.0');
    expect(defaultFromDescription('scale (PEFT `lora_alpha`, default r).')).toBe('r');
    expect(defaultFromDescription("length (default: the model's limit)")).toBe("the model's limit");
    expect(defaultFromDescription('stop (default), or skip')).toBeUndefined();
    expect(defaultFromDescription('no default here')).toBeUndefined();
  });

  it("gives every key of the train config's JSON Schema a row", () => {
    const train = trainConfigJsonSchema() as JsonSchema;
    const paths = schemaRows(train).map((row) => row.path);
    for (const key of Object.keys(train.properties!)) expect(paths).toContain(key);
    expect(paths).toEqual(expect.arrayContaining(['lora.r', 'lora.alpha', 'lora.target_modules']));
    expect(describeType(train.properties!.max_steps!)).toBe('`-1` or integer ≥ 1');
    expect(tableCell(describeType(train.properties!.distill_loss_type!))).toBe('`"ce"` \\| `"kl"`');
  });
});
