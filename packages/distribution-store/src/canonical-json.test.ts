import { expect, it } from 'vitest';
import { canonicalJson } from './canonical-json.js';

it('sorts keys at every depth, keeps array order, drops undefined', () => {
  expect(canonicalJson({ b: 1, a: [2, { d: 3, c: 4 }], u: undefined })).toBe('{"a":[2,{"c":4,"d":3}],"b":1}');
  expect(canonicalJson({ z: { y: 1, x: null } }, 1)).toBe('{\n "z": {\n  "x": null,\n  "y": 1\n }\n}');
  expect(canonicalJson({ b: 1, a: 2 })).toBe(canonicalJson({ a: 2, b: 1 }));
});
