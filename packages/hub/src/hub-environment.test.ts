import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { hubCacheDirectory, hubEnvironment, hubToken } from './hub-environment.js';

describe('hubCacheDirectory (huggingface_hub constants.py)', () => {
  it('HF_HUB_CACHE, then HUGGINGFACE_HUB_CACHE, then HF_HOME/hub, then XDG_CACHE_HOME, then ~/.cache', () => {
    expect(hubCacheDirectory({ HF_HUB_CACHE: '/a', HUGGINGFACE_HUB_CACHE: '/b', HF_HOME: '/c' })).toBe('/a');
    expect(hubCacheDirectory({ HUGGINGFACE_HUB_CACHE: '/b', HF_HOME: '/c' })).toBe('/b');
    expect(hubCacheDirectory({ HF_HOME: '/c', XDG_CACHE_HOME: '/x' })).toBe(join('/c', 'hub'));
    expect(hubCacheDirectory({ XDG_CACHE_HOME: '/x' })).toBe(join('/x', 'huggingface', 'hub'));
    expect(hubCacheDirectory({})).toBe(join(homedir(), '.cache', 'huggingface', 'hub'));
  });

  it('expands ~ and $VARS as expanduser + expandvars do', () => {
    expect(hubCacheDirectory({ HF_HUB_CACHE: '~/hf' })).toBe(join(homedir(), 'hf'));
    expect(hubCacheDirectory({ HF_HOME: '$DATA/hf', DATA: '/data' })).toBe(join('/data/hf', 'hub'));
  });
});

describe('hubEnvironment', () => {
  it('reads HF_ENDPOINT without its trailing slash, and the offline switches as huggingface_hub does', () => {
    expect(hubEnvironment({ HF_ENDPOINT: 'http://127.0.0.1:9/' }).endpoint).toBe('http://127.0.0.1:9');
    expect(hubEnvironment({}).endpoint).toBe('https://huggingface.co');
    for (const value of ['1', 'ON', 'yes', 'True'])
      expect(hubEnvironment({ HF_HUB_OFFLINE: value }).offline).toBe(true);
    for (const value of ['0', '', 'off', 'no'])
      expect(hubEnvironment({ HF_HUB_OFFLINE: value }).offline).toBe(false);
    expect(hubEnvironment({ TRANSFORMERS_OFFLINE: '1' }).offline).toBe(true);
  });
});

describe('hubToken', () => {
  let home: string | undefined;
  afterEach(() => {
    if (home) rmSync(home, { recursive: true, force: true });
    home = undefined;
  });

  it('HF_TOKEN, then HUGGING_FACE_HUB_TOKEN, then the login token file under HF_HOME', () => {
    home = mkdtempSync(join(tmpdir(), 'fusechat-hub-env-'));
    expect(hubToken({ HF_HOME: home })).toBeUndefined();
    writeFileSync(join(home, 'token'), 'hf_fromfile\n');
    expect(hubToken({ HF_HOME: home })).toBe('hf_fromfile');
    expect(hubToken({ HF_HOME: home, HUGGING_FACE_HUB_TOKEN: 'hf_legacy' })).toBe('hf_legacy');
    expect(hubToken({ HF_HOME: home, HF_TOKEN: 'hf_env', HUGGING_FACE_HUB_TOKEN: 'hf_legacy' })).toBe(
      'hf_env',
    );
    writeFileSync(join(home, 'other'), 'hf_other');
    expect(hubToken({ HF_HOME: home, HF_TOKEN_PATH: join(home, 'other') })).toBe('hf_other');
  });
});
