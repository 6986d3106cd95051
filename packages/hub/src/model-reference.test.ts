import { describe, expect, it } from 'vitest';
import { HubError } from './hub-error.js';
import { parseModelId, repoIdProblem, revisionProblem } from './model-reference.js';

describe('repoIdProblem (huggingface_hub validate_repo_id)', () => {
  it('accepts the ids huggingface_hub accepts', () => {
    for (const id of [
      'foo/bar',
      'Qwen/Qwen2.5-0.5B-Instruct',
      'Foo-BAR_foo.bar123/x',
      'a/b',
      'mistralai/Mistral-7B-v0.1',
      'ü/ñame',
    ]) {
      expect(repoIdProblem(id), id).toBeUndefined();
    }
    expect(repoIdProblem(`org/${'n'.repeat(96)}`)).toBeUndefined();
  });

  it('rejects what huggingface_hub rejects, with the reason', () => {
    expect(repoIdProblem('datasets/foo/bar')).toMatch(/one "\/"/);
    expect(repoIdProblem('org/.repo_id')).toMatch(/start and end/);
    expect(repoIdProblem('org/repo-')).toMatch(/start and end/);
    expect(repoIdProblem('-org/repo')).toMatch(/start and end/);
    expect(repoIdProblem('org/foo--bar')).toMatch(/"--"/);
    expect(repoIdProblem('org/other..repo')).toMatch(/".."/);
    expect(repoIdProblem('org/foo.git')).toMatch(/\.git/);
    expect(repoIdProblem('org/has space')).toMatch(/letters/);
    expect(repoIdProblem(`org/${'n'.repeat(97)}`)).toMatch(/96/);
  });
});

describe('parseModelId', () => {
  it('reads ORG/NAME with main as the default revision', () => {
    expect(parseModelId('Qwen/Qwen2.5-0.5B-Instruct')).toEqual({
      repo: 'Qwen/Qwen2.5-0.5B-Instruct',
      revision: 'main',
      explicitRevision: false,
    });
  });

  it('reads @branch, @commit and a revision with slashes (refs/pr/1)', () => {
    expect(parseModelId('org/name@dev')?.revision).toBe('dev');
    expect(parseModelId(`org/name@${'a'.repeat(40)}`)?.revision).toBe('a'.repeat(40));
    expect(parseModelId('org/name@refs/pr/1')).toEqual({
      repo: 'org/name',
      revision: 'refs/pr/1',
      explicitRevision: true,
    });
  });

  it('leaves path-shaped references to the caller', () => {
    for (const path of [
      './models/pivot',
      '../x/y',
      '/abs/dir',
      '~/models/x',
      'a/b/c',
      'C:\\models\\x',
      'models',
      'models/',
      '/x',
    ]) {
      expect(parseModelId(path), path).toBeUndefined();
    }
  });

  it('refuses an id-shaped reference that breaks the rules, or an unusable revision', () => {
    expect(() => parseModelId('org--x/name')).toThrow(HubError);
    expect(() => parseModelId('org--x/name')).toThrow(/not a valid Hugging Face model id/);
    for (const bad of ['org/name@', 'org/name@../../etc', 'org/name@a b', 'org/name@/x']) {
      try {
        parseModelId(bad);
        expect.unreachable(bad);
      } catch (error) {
        expect((error as HubError).code, bad).toBe('HUB_INVALID_REFERENCE');
      }
    }
    expect(revisionProblem('refs/pr/1')).toBeUndefined();
  });
});
