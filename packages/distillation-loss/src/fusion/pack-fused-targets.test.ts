import { createSparseDistributions, setRow } from '@fusechat/core';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { useBackend } from '../../test/backends.js';
import { referenceFusion } from '../../test/reference.js';
import { fusionLoss } from '../losses/fusion-loss/fusion-loss.js';
import { avgCE } from './avg-ce/avg-ce.js';
import { packFusedTargetArrays, packFusedTargets } from './pack-fused-targets.js';

describe('packFusedTargets', () => {
  it('pads time and k, keeps first occurrences', () => {
    const a = createSparseDistributions(2, 3);
    setRow(a, 0, [5, 5, 1], [3, 2, 1]);
    setRow(a, 1, [2], [0]);
    const b = createSparseDistributions(1, 2);
    setRow(b, 0, [4, -1], [1, 0]);
    const packed = packFusedTargetArrays([a, b]);
    expect(packed.shape).toEqual([2, 2, 3]);
    expect(Array.from(packed.ids)).toEqual([5, 1, -1, 2, -1, -1, 4, -1, -1, -1, -1, -1]);
    expect(Array.from(packed.logits)).toEqual([3, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0]);
    expect(packFusedTargetArrays([a], { k: 1, timeSteps: 3 }).ids).toEqual(Int32Array.from([5, 2, -1]));
    expect(() => packFusedTargetArrays([a], { timeSteps: 1 })).toThrow(/more than timeSteps/);
  });

  it('feeds AvgCE targets to fusionLoss, which then trains towards the mixture', async () => {
    await useBackend('cpu');
    const pivot = createSparseDistributions(2, 2);
    setRow(pivot, 0, [0, 1], [Math.log(3), 0]);
    setRow(pivot, 1, [2], [0]);
    const source = createSparseDistributions(2, 2);
    setRow(source, 0, [1, 3], [0, 0]);
    setRow(source, 1, [3], [0]);
    const fused = avgCE.fuse([
      { distributions: pivot, ce: 1 },
      { distributions: source, ce: 1 },
    ]).distributions;
    const { ids, logits } = packFusedTargets([fused]);
    const student = [
      [
        [0.1, -0.3, 0.2, 0.7],
        [0, 0, 0, 0],
      ],
    ];
    const z = tf.tensor3d(student);
    const value = fusionLoss(z, ids, logits, [[1, 1]]).dataSync()[0]!;
    // By hand: q = 0.5·(0.75, 0.25, 0, 0) + 0.5·(0, 0.5, 0, 0.5) = (0.375, 0.375, 0, 0.25) on ids 0..3.
    const handTargets = [
      [
        [0, 1, 3],
        [0, 0, 0],
      ],
    ];
    const handLogits = [
      [
        [Math.log(0.375), Math.log(0.375), Math.log(0.25)],
        [0, 0, 0],
      ],
    ];
    expect(value).toBeCloseTo(referenceFusion(student, handTargets, handLogits, [[1, 1]]), 5);
    tf.dispose([ids, logits, z]);
  });
});
