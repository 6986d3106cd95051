/** A string of HTML that is already safe to insert (escaped text, or markup this package made). */
export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/**
 * Text as HTML: `& < > " '` escaped, so it is safe between tags and inside quoted attributes.
 *
 * @example
 * ```ts
 * escapeHtml('<s> & "x"'); // '&lt;s&gt; &amp; &quot;x&quot;'
 * ```
 */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (character) => ESCAPES[character]!);
}

/** Interpolated value of {@link html}: strings and numbers are escaped, arrays joined, nullish and `false` dropped. */
export type HtmlValue = SafeHtml | string | number | boolean | null | undefined | readonly HtmlValue[];

function renderValue(value: HtmlValue): string {
  if (value instanceof SafeHtml) return value.value;
  if (Array.isArray(value)) return value.map(renderValue).join('');
  if (value === null || value === undefined || value === false || value === true) return '';
  return escapeHtml(String(value));
}

/**
 * Tagged template for report markup: every interpolated string is escaped unless it is a
 * {@link SafeHtml} (from another `html` call, or {@link trustedHtml}).
 *
 * @example
 * ```ts
 * html`<td title="${token}">${token}</td>`.value; // token escaped twice over, safely
 * ```
 */
export function html(strings: TemplateStringsArray, ...values: readonly HtmlValue[]): SafeHtml {
  let out = strings[0]!;
  values.forEach((value, index) => {
    out += renderValue(value) + strings[index + 1]!;
  });
  return new SafeHtml(out);
}

/** Markup made by code, not by data: an SVG Vega rendered (it escapes its text), the report's CSS and script. */
export function trustedHtml(markup: string): SafeHtml {
  return new SafeHtml(markup);
}

/**
 * JSON for a `<script type="application/json">` element: `<`, `>`, `&` and the line separators
 * as `\u` escapes, so no token string can close the element or start a comment.
 */
export function jsonForScript(value: unknown): SafeHtml {
  return new SafeHtml(
    JSON.stringify(value).replace(
      /[<>&\u2028\u2029]/g,
      (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`,
    ),
  );
}

/**
 * A token string with invisible characters made visible: newline `↵`, tab `⇥`, carriage return
 * `␍`, space `␣`, other control characters as their Unicode control pictures; an empty token `∅`.
 * Space markers (`▁`, `Ġ`) are kept: they are how the vocabulary spells the token.
 */
export function visibleToken(token: string): string {
  if (token.length === 0) return '∅';
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
  return token.replace(/[\u0000-\u001f\u007f ]/g, (character) => {
    if (character === '\n') return '↵';
    if (character === '\t') return '⇥';
    if (character === '\r') return '␍';
    if (character === ' ') return '␣';
    if (character === '\u007f') return '␡';
    return String.fromCharCode(0x2400 + character.charCodeAt(0));
  });
}
