/**
 * `JSON.stringify` that writes a `Map` as an object **in insertion order**. vLLM's per-position
 * log-probability dicts are ordered (the actual token first, then the top-k by rank), but a JS
 * object puts integer-like keys ("13", "7") in ascending order, so these dicts are built as
 * Maps. Keys are written as strings, as JSON requires; non-finite numbers become `null`.
 *
 * @example
 * ```ts
 * serializeJson({ a: new Map([[13, 1], [7, 2]]) }); // '{"a":{"13":1,"7":2}}'
 * ```
 */
export function serializeJson(value: unknown): string {
  const parts: string[] = [];
  write(value, parts);
  return parts.join('');
}

function write(value: unknown, parts: string[]): void {
  if (value instanceof Map) {
    parts.push('{');
    let first = true;
    for (const [key, entry] of value) {
      if (entry === undefined) continue;
      if (!first) parts.push(',');
      first = false;
      parts.push(JSON.stringify(String(key)), ':');
      write(entry, parts);
    }
    parts.push('}');
  } else if (Array.isArray(value)) {
    parts.push('[');
    for (let i = 0; i < value.length; i++) {
      if (i > 0) parts.push(',');
      const entry = value[i];
      if (entry === undefined) parts.push('null');
      else write(entry, parts);
    }
    parts.push(']');
  } else if (value !== null && typeof value === 'object' && !ArrayBuffer.isView(value)) {
    parts.push('{');
    let first = true;
    for (const key of Object.keys(value)) {
      const entry = (value as Record<string, unknown>)[key];
      if (entry === undefined) continue;
      if (!first) parts.push(',');
      first = false;
      parts.push(JSON.stringify(key), ':');
      write(entry, parts);
    }
    parts.push('}');
  } else {
    parts.push(JSON.stringify(value) ?? 'null');
  }
}
