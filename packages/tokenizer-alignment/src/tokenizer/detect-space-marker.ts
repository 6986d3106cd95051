import { InvalidInputError, type SpaceMarkerConvention } from '@fusechat/core';

/**
 * Reads the space-marker convention from a parsed `tokenizer.json` itself — its normalizer,
 * pre-tokenizer and decoder components, not the tokenizer's class name: a `ByteLevel`
 * pre-tokenizer or decoder means byte-level BPE (`Ġ`); a `Metaspace` component, or a `Replace`
 * normalizer/decoder turning spaces into `▁` (or back), means SentencePiece-style (`▁`).
 *
 * Throws `TOKENIZER_UNKNOWN_MARKER` when neither is found or both are (pass the convention to
 * `loadTokenizer` explicitly in that case), and when a `Metaspace` uses another character than `▁`.
 *
 * @example
 * ```ts
 * detectSpaceMarker({ pre_tokenizer: { type: 'ByteLevel' }, model: {} }); // 'byte-level'
 * ```
 */
export function detectSpaceMarker(tokenizerJson: unknown, source = 'tokenizer.json'): SpaceMarkerConvention {
  const json = (tokenizerJson ?? {}) as Record<string, unknown>;
  const found = new Set<SpaceMarkerConvention>();
  const unknown: string[] = [];
  const visit = (component: unknown, role: 'normalizer' | 'pre_tokenizer' | 'decoder'): void => {
    if (component === null || typeof component !== 'object') return;
    const record = component as Record<string, unknown>;
    for (const nested of ['normalizers', 'pretokenizers', 'pre_tokenizers', 'decoders']) {
      if (Array.isArray(record[nested])) for (const child of record[nested] as unknown[]) visit(child, role);
    }
    const type = record.type;
    if (type === 'ByteLevel' && role !== 'normalizer') found.add('byte-level');
    if (type === 'Metaspace') {
      // Tokens carry the replacement character: anything but '▁' is a convention we do not know.
      const replacement = record.replacement;
      if (replacement === undefined || replacement === '▁') found.add('sentencepiece');
      else unknown.push(`Metaspace replacement ${JSON.stringify(replacement)}`);
    }
    if (type === 'Replace') {
      const pattern = record.pattern as Record<string, unknown> | undefined;
      const from = typeof pattern?.String === 'string' ? pattern.String : undefined;
      const to = record.content;
      if ((from === ' ' && to === '▁') || (from === '▁' && to === ' ')) found.add('sentencepiece');
    }
  };
  visit(json.normalizer, 'normalizer');
  visit(json.pre_tokenizer, 'pre_tokenizer');
  visit(json.decoder, 'decoder');
  if (unknown.length > 0) {
    throw new InvalidInputError(
      `${source}: ${unknown.join(', ')} is neither the SentencePiece (▁) nor the byte-level (Ġ) space marker; fusechat cannot normalise its tokens`,
      { code: 'TOKENIZER_UNKNOWN_MARKER', field: 'spaceMarker', details: { source } },
    );
  }
  if (found.size === 1) return [...found][0]!;
  throw new InvalidInputError(
    found.size === 0
      ? `${source}: cannot tell the space-marker convention (no ByteLevel, Metaspace or "▁" Replace component); pass spaceMarker: 'sentencepiece' | 'byte-level' explicitly`
      : `${source}: both ByteLevel and SentencePiece-style (▁) components found; pass spaceMarker explicitly`,
    { code: 'TOKENIZER_UNKNOWN_MARKER', field: 'spaceMarker', details: { source } },
  );
}
