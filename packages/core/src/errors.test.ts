import { describe, expect, it } from 'vitest';
import {
  FileFormatError,
  FuseChatError,
  isFuseChatError,
  ShapeMismatchError,
  UnknownNameError,
} from './errors.js';

describe('FuseChatError hierarchy', () => {
  it('carries a stable code, structured fields and the cause', () => {
    const cause = new Error('EIO');
    const error = new FileFormatError('SAFETENSORS_TRUNCATED', 'file ends early', {
      path: '/m/model.safetensors',
      offset: 128,
      tensorName: 'lm_head.weight',
      cause,
    });
    expect(error).toBeInstanceOf(FuseChatError);
    expect(error.name).toBe('FileFormatError');
    expect(error.code).toBe('SAFETENSORS_TRUNCATED');
    expect(error.offset).toBe(128);
    expect(error.details).toMatchObject({ path: '/m/model.safetensors', tensorName: 'lm_head.weight' });
    expect(error.cause).toBe(cause);
    expect(isFuseChatError(error, 'SAFETENSORS_TRUNCATED')).toBe(true);
    expect(isFuseChatError(error, 'OTHER')).toBe(false);
    expect(isFuseChatError(new Error('x'))).toBe(false);
    expect(JSON.parse(JSON.stringify(error))).toMatchObject({ code: 'SAFETENSORS_TRUNCATED', offset: 128 });
  });

  it('names both shapes on a mismatch', () => {
    const error = new ShapeMismatchError('q_proj differs', {
      tensorName: 'model.layers.0.self_attn.q_proj.weight',
      expectedShape: [64, 64],
      actualShape: [64, 32],
    });
    expect(error.code).toBe('SHAPE_MISMATCH');
    expect(error.expectedShape).toEqual([64, 64]);
    expect(error.actualShape).toEqual([64, 32]);
  });

  it('lists the known names and suggests the closest', () => {
    const error = new UnknownNameError('merge method', 'variaton_ratio', [
      'linear',
      'variation_ratio',
      'ties',
    ]);
    expect(error.message).toContain('Did you mean "variation_ratio"?');
    expect(error.message).toContain('Known: linear, variation_ratio, ties.');
    expect(new UnknownNameError('backend', 'zzzzzzzz', ['cpu', 'wasm']).message).not.toContain(
      'Did you mean',
    );
  });
});
