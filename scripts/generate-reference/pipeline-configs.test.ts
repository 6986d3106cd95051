// The pipeline configs the docs show are configs the schema accepts (the reference pages are
// generated from it; these are written by hand).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { analysePipelineConfig } from '../../packages/pipeline/src/index.js';
import { extractFencedBlocks } from '../test-support/markdown-blocks.js';
import { repoRoot } from './references.js';

const PAGES = ['docs/guides/pipeline.md'];

describe('pipeline configs in the docs', () => {
  for (const page of PAGES) {
    const blocks = extractFencedBlocks(readFileSync(join(repoRoot, page), 'utf8')).filter(
      (block) => block.lang === 'yaml' && /^\s*pivot:/m.test(block.code),
    );
    it(`${page} shows at least one complete config`, () => {
      expect(blocks.length).toBeGreaterThan(0);
    });
    for (const block of blocks) {
      it(`${page}:${block.line} passes the schema`, () => {
        const analysis = analysePipelineConfig(block.code, { baseDir: repoRoot });
        expect(analysis.problems).toEqual([]);
      });
    }
  }
});
