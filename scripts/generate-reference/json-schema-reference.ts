// A config reference rendered from a JSON Schema (the one the config's zod schema generates), so
// every key, its type, default, whether it is required and its description come from the code.
import { cellCode, code, generatedNotice, table, tableCell } from './markdown.js';

/** The parts of JSON Schema (draft 2020-12, as `z.toJSONSchema` writes it) this renderer reads. */
export interface JsonSchema {
  $ref?: string;
  $defs?: Record<string, JsonSchema>;
  definitions?: Record<string, JsonSchema>;
  title?: string;
  description?: string;
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  propertyNames?: JsonSchema;
  items?: JsonSchema;
  prefixItems?: JsonSchema[];
  minItems?: number;
  maxItems?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: string;
}

/** One row of the reference: a key path (`sources[].name`) and what the schema says about it. */
export interface SchemaRow {
  readonly path: string;
  readonly type: string;
  readonly required: boolean;
  readonly default: unknown;
  readonly description: string;
}

export interface SchemaReferenceOptions {
  /** Page title (`# …`). */
  readonly title: string;
  /** Where the schema comes from, for the generated notice (`pipelineConfigJsonSchema() in …`). */
  readonly source: string;
  /** The command that regenerates the page. */
  readonly regenerate: string;
  /** Paragraphs between the title and the table (Markdown). */
  readonly intro?: readonly string[];
  /** Paragraphs after the table (Markdown). */
  readonly outro?: readonly string[];
}

// Integer bounds zod adds to every `.int()`: not worth a reader's attention.
const SAFE_INTEGER_BOUNDS = new Set([Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER]);

function resolve(node: JsonSchema, root: JsonSchema, seen: Set<string> = new Set()): JsonSchema {
  if (!node.$ref) return node;
  const match = /^#\/(\$defs|definitions)\/(.+)$/.exec(node.$ref);
  if (node.$ref === '#') return root;
  if (!match || seen.has(node.$ref)) return node;
  const definitions = (match[1] === '$defs' ? root.$defs : root.definitions) ?? {};
  const target = definitions[decodeURIComponent(match[2]!.replace(/~1/g, '/').replace(/~0/g, '~'))];
  if (!target) throw new Error(`JSON Schema $ref ${node.$ref} points at nothing`);
  const { $ref: _ref, ...rest } = node;
  return { ...resolve(target, root, new Set([...seen, node.$ref])), ...rest };
}

function branches(node: JsonSchema): JsonSchema[] | undefined {
  return node.anyOf ?? node.oneOf;
}

function bounds(node: JsonSchema): string {
  const lower =
    node.exclusiveMinimum !== undefined
      ? { value: node.exclusiveMinimum, open: true }
      : node.minimum !== undefined && !SAFE_INTEGER_BOUNDS.has(node.minimum)
        ? { value: node.minimum, open: false }
        : undefined;
  const upper =
    node.exclusiveMaximum !== undefined
      ? { value: node.exclusiveMaximum, open: true }
      : node.maximum !== undefined && !SAFE_INTEGER_BOUNDS.has(node.maximum)
        ? { value: node.maximum, open: false }
        : undefined;
  if (lower && upper)
    return ` in ${lower.open ? '(' : '['}${lower.value}, ${upper.value}${upper.open ? ')' : ']'}`;
  if (lower) return ` ${lower.open ? '>' : '≥'} ${lower.value}`;
  if (upper) return ` ${upper.open ? '<' : '≤'} ${upper.value}`;
  return '';
}

/**
 * A short human type for a schema node: `integer ≥ 1`, `` `ce` \| `kl` ``, `string[]`,
 * `number in [0, 1]`, `boolean or string`, `map of string → number`.
 */
export function describeType(node: JsonSchema, root: JsonSchema = node): string {
  node = resolve(node, root);
  if (node.const !== undefined) return code(JSON.stringify(node.const));
  if (node.enum) return node.enum.map((value) => code(JSON.stringify(value))).join(' | ');
  const union = branches(node);
  if (union) return [...new Set(union.map((branch) => describeType(branch, root)))].join(' or ');
  if (node.allOf && node.allOf.length === 1) return describeType(node.allOf[0]!, root);
  const types = Array.isArray(node.type) ? node.type : node.type ? [node.type] : [];
  if (types.length !== 1)
    return types.length === 0
      ? 'any'
      : types.map((type) => describeType({ ...node, type }, root)).join(' or ');
  switch (types[0]) {
    case 'integer':
    case 'number':
      return `${types[0]}${bounds(node)}`;
    case 'string': {
      const extras: string[] = [];
      if (node.format) extras.push(node.format);
      if (node.pattern) extras.push(`matching ${code(node.pattern)}`);
      if (node.minLength !== undefined && node.minLength > 1) extras.push(`≥ ${node.minLength} characters`);
      if (node.maxLength !== undefined) extras.push(`≤ ${node.maxLength} characters`);
      return extras.length > 0 ? `string (${extras.join(', ')})` : 'string';
    }
    case 'array': {
      if (node.prefixItems) return `[${node.prefixItems.map((item) => describeType(item, root)).join(', ')}]`;
      const item = node.items ? describeType(node.items, root) : 'any';
      const simple = /^[\w]+$/.test(item);
      const count =
        node.minItems !== undefined && node.minItems > 0
          ? node.maxItems !== undefined
            ? ` (${node.minItems}–${node.maxItems} items)`
            : ` (≥ ${node.minItems} ${node.minItems === 1 ? 'item' : 'items'})`
          : node.maxItems !== undefined
            ? ` (≤ ${node.maxItems} items)`
            : '';
      return `${simple ? `${item}[]` : `list of ${item}`}${count}`;
    }
    case 'object': {
      if (node.properties) return 'object';
      if (typeof node.additionalProperties === 'object')
        return `map of string → ${describeType(node.additionalProperties, root)}`;
      return 'object';
    }
    default:
      return types[0]!;
  }
}

/** The object schema inside `node` whose keys deserve their own rows, if any (for `a.b` paths). */
function objectWithKeys(node: JsonSchema, root: JsonSchema): JsonSchema | undefined {
  node = resolve(node, root);
  if (node.properties && Object.keys(node.properties).length > 0) return node;
  for (const branch of branches(node) ?? []) {
    const found = objectWithKeys(branch, root);
    if (found) return found;
  }
  return undefined;
}

/** The schema of the list items or map values inside `node` that have keys of their own. */
function nestedCollections(node: JsonSchema, root: JsonSchema): { suffix: string; schema: JsonSchema }[] {
  node = resolve(node, root);
  const found: { suffix: string; schema: JsonSchema }[] = [];
  const candidates = [node, ...(branches(node) ?? []).map((branch) => resolve(branch, root))];
  for (const candidate of candidates) {
    if (candidate.items) {
      const items = objectWithKeys(candidate.items, root);
      if (items) found.push({ suffix: '[]', schema: items });
    }
    if (typeof candidate.additionalProperties === 'object') {
      const values = objectWithKeys(candidate.additionalProperties, root);
      if (values) found.push({ suffix: '.<name>', schema: values });
    }
  }
  return found;
}

/**
 * Every key of an object schema as rows, depth first in the schema's own order: nested objects
 * as `a.b`, list items as `a[].b`, map values as `a.<name>.b`.
 */
export function schemaRows(schema: JsonSchema, root: JsonSchema = schema, prefix = ''): SchemaRow[] {
  const node = resolve(schema, root);
  const required = new Set(node.required ?? []);
  const rows: SchemaRow[] = [];
  for (const [key, rawProperty] of Object.entries(node.properties ?? {})) {
    const property = resolve(rawProperty, root);
    const path = `${prefix}${key}`;
    rows.push({
      path,
      type: describeType(property, root),
      required: required.has(key),
      default: property.default ?? defaultOfBranches(property),
      description: property.description ?? descriptionOfBranches(property, root) ?? '',
    });
    const object = objectWithKeys(property, root);
    if (object) rows.push(...schemaRows(object, root, `${path}.`));
    for (const collection of nestedCollections(property, root))
      rows.push(...schemaRows(collection.schema, root, `${path}${collection.suffix}.`));
  }
  return rows;
}

/**
 * The default stated in a description, when the schema carries none: `(default 42)`,
 * `(default: the model's max_position_embeddings)`, `(FuseChat default 0.9)`, `(…, default r)`.
 */
export function defaultFromDescription(description: string): string | undefined {
  const match = /\((?:[^()]*?,\s*)?(?:[A-Z][\w-]* )?default:?\s+([^;()]+?)\s*(?:;[^()]*)?\)/.exec(
    description,
  );
  return match?.[1];
}

function defaultCell(row: SchemaRow): string {
  if (row.default !== undefined) return cellCode(JSON.stringify(row.default));
  const stated = defaultFromDescription(row.description);
  if (stated === undefined) return '';
  // A value (`42`, `keep-first`) as code; prose (`each model's limit`) as text.
  return /^[^\s]+$/.test(stated) ? cellCode(stated) : tableCell(stated);
}

function defaultOfBranches(node: JsonSchema): unknown {
  return branches(node)?.find((branch) => branch.default !== undefined)?.default;
}

function descriptionOfBranches(node: JsonSchema, root: JsonSchema): string | undefined {
  return branches(node)
    ?.map((branch) => resolve(branch, root).description)
    .find((description) => description !== undefined);
}

/**
 * The Markdown reference page of a config's JSON Schema: one table row per key (nested keys
 * included) with its type, whether it is required, its default and its description.
 *
 * @example
 * ```ts
 * renderJsonSchemaReference(trainConfigJsonSchema(), {
 *   title: 'Train config reference', source: 'trainConfigJsonSchema()', regenerate: 'npm run docs:reference',
 * });
 * ```
 */
export function renderJsonSchemaReference(schema: JsonSchema, options: SchemaReferenceOptions): string {
  const rows = schemaRows(schema);
  const lines = [generatedNotice(options.source, options.regenerate), '', `# ${options.title}`, ''];
  for (const paragraph of options.intro ?? []) lines.push(paragraph, '');
  if (schema.description) lines.push(`> ${tableCell(schema.description).replace(/\\\|/g, '|')}`, '');
  if (schema.additionalProperties === false)
    lines.push('Unknown keys are refused, every problem listed at once.', '');
  lines.push(
    ...table(
      ['key', 'type', 'required', 'default', 'description'],
      rows.map((row) => [
        cellCode(row.path),
        tableCell(row.type),
        row.required ? 'yes' : '',
        defaultCell(row),
        tableCell(row.description),
      ]),
    ),
    '',
  );
  for (const paragraph of options.outro ?? []) lines.push(paragraph, '');
  return `${lines.join('\n').trimEnd()}\n`;
}
