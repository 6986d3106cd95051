import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { realTokenizer, tokenizerDirectory } from '../test-fixtures.js';
import { detectSpaceMarker } from './detect-space-marker.js';
import { createTokenizer, loadTokenizer } from './load-tokenizer.js';

describe('loadTokenizer', () => {
  it('loads three real vocabularies with their conventions, special tokens and hashes', async () => {
    const mistral = await realTokenizer('mistral');
    expect(mistral.spaceMarker).toBe('sentencepiece');
    expect(mistral.vocabSize).toBe(32000);
    expect(mistral.specialTokens).toEqual({ bos: 1, eos: 2, unk: 0, pad: undefined });
    expect(mistral.encode('Hello world')).toEqual([1, 22557, 1526]);
    expect(mistral.encode('Hello world', { addSpecialTokens: false })).toEqual([22557, 1526]);
    expect(mistral.idToToken(22557)).toBe('▁Hello');
    expect(mistral.decode([1, 22557, 1526], { skipSpecialTokens: true })).toBe('Hello world');
    const bytes = await readFile(join(tokenizerDirectory('mistral'), 'tokenizer.json'));
    expect(mistral.hash).toBe(createHash('sha256').update(bytes).digest('hex'));

    const qwen = await realTokenizer('qwen3');
    expect(qwen.spaceMarker).toBe('byte-level');
    expect(qwen.vocabSize).toBe(151669);
    expect(qwen.specialTokens).toEqual({ bos: undefined, eos: 151645, unk: undefined, pad: 151643 });
    expect(qwen.chatTemplate).toContain('<|im_start|>');
    expect(qwen.encode('Hello world').map((id) => qwen.idToToken(id))).toEqual(['Hello', 'Ġworld']);

    const llama = await realTokenizer('llama3');
    expect(llama.spaceMarker).toBe('byte-level');
    expect(llama.specialTokens.bos).toBe(128000);
    expect(llama.specialTokens.eos).toBe(128001);
    expect(llama.idToToken(-1)).toBeUndefined();
    expect(llama.idToToken(llama.vocabSize)).toBeUndefined();
    expect(llama.tokenToId('no such token ✗')).toBeUndefined();
  });

  it('reads special tokens given as {content} objects and explicit file paths', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'fusechat-tokenizer-'));
    const config = JSON.parse(
      await readFile(join(tokenizerDirectory('mistral'), 'tokenizer_config.json'), 'utf8'),
    );
    config.bos_token = { content: '<s>', lstrip: false };
    config.pad_token = { __type: 'AddedToken', content: '</s>' };
    await writeFile(join(directory, 'tokenizer_config.json'), JSON.stringify(config));
    const tokenizer = await loadTokenizer({
      tokenizerJson: join(tokenizerDirectory('mistral'), 'tokenizer.json'),
      tokenizerConfig: join(directory, 'tokenizer_config.json'),
    });
    try {
      expect(tokenizer.specialTokens).toEqual({ bos: 1, eos: 2, unk: 0, pad: 2 });
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  it('detects the marker from the definition, not from class names', () => {
    expect(detectSpaceMarker({ pre_tokenizer: { type: 'Metaspace', replacement: '▁' }, model: {} })).toBe(
      'sentencepiece',
    );
    expect(
      detectSpaceMarker({
        decoder: {
          type: 'Sequence',
          decoders: [{ type: 'Replace', pattern: { String: '▁' }, content: ' ' }],
        },
      }),
    ).toBe('sentencepiece');
    expect(
      detectSpaceMarker({
        pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'Split' }, { type: 'ByteLevel' }] },
      }),
    ).toBe('byte-level');
    expect(() => detectSpaceMarker({ pre_tokenizer: { type: 'Whitespace' } })).toThrow(
      expect.objectContaining({ code: 'TOKENIZER_UNKNOWN_MARKER' }),
    );
    // A Metaspace that writes another character than '▁' is a convention we cannot normalise.
    expect(() => detectSpaceMarker({ pre_tokenizer: { type: 'Metaspace', replacement: '_' } })).toThrow(
      expect.objectContaining({ code: 'TOKENIZER_UNKNOWN_MARKER', message: expect.stringContaining('"_"') }),
    );
  });

  it('ignores the tokenizer class that tokenizer_config.json names', () => {
    // A byte-level definition under a SentencePiece class name, and the reverse.
    const vocab = { a: 0, b: 1, '<unk>': 2 };
    const byteLevel = JSON.stringify({
      model: { type: 'WordLevel', vocab, unk_token: '<unk>' },
      pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: true },
      decoder: { type: 'ByteLevel' },
      normalizer: null,
      post_processor: null,
      added_tokens: [],
    });
    const metaspace = JSON.stringify({
      model: { type: 'WordLevel', vocab, unk_token: '<unk>' },
      pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
      decoder: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
      normalizer: null,
      post_processor: null,
      added_tokens: [],
    });
    expect(
      createTokenizer({ tokenizerJson: byteLevel, tokenizerConfig: { tokenizer_class: 'LlamaTokenizer' } })
        .spaceMarker,
    ).toBe('byte-level');
    expect(
      createTokenizer({ tokenizerJson: metaspace, tokenizerConfig: { tokenizer_class: 'GPT2Tokenizer' } })
        .spaceMarker,
    ).toBe('sentencepiece');
  });

  it('rejects bad input with clear errors', async () => {
    const wordLevel = JSON.stringify({
      model: { type: 'WordLevel', vocab: { a: 0, b: 1, '[UNK]': 2 }, unk_token: '[UNK]' },
      pre_tokenizer: { type: 'Whitespace' },
      decoder: { type: 'Fuse' },
      normalizer: null,
      post_processor: null,
      added_tokens: [],
    });
    expect(() => createTokenizer({ tokenizerJson: wordLevel })).toThrow(
      expect.objectContaining({
        code: 'TOKENIZER_UNKNOWN_MARKER',
        message: expect.stringContaining('pass spaceMarker'),
      }),
    );
    const explicit = createTokenizer({ tokenizerJson: wordLevel }, { spaceMarker: 'sentencepiece' });
    expect(explicit.spaceMarker).toBe('sentencepiece');
    expect(explicit.specialTokens.unk).toBe(2);
    expect(() => createTokenizer({ tokenizerJson: '{not json' })).toThrow(
      expect.objectContaining({ code: 'TOKENIZER_INVALID_JSON' }),
    );
    expect(() => createTokenizer({ tokenizerJson: '{"version":"1.0"}' })).toThrow(
      expect.objectContaining({ code: 'TOKENIZER_INVALID' }),
    );
    expect(() =>
      createTokenizer(
        { tokenizerJson: wordLevel, tokenizerConfig: { eos_token: '</s>' } },
        { spaceMarker: 'byte-level' },
      ),
    ).toThrow(expect.objectContaining({ code: 'TOKENIZER_UNKNOWN_SPECIAL_TOKEN' }));
    await expect(loadTokenizer('/no/such/dir')).rejects.toMatchObject({ code: 'TOKENIZER_NOT_FOUND' });
  });
});
