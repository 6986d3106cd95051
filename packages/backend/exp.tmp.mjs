const { initBackend } = await import('./dist/index.js');
const tf = await import('@tensorflow/tfjs-core');
for (const b of ['wasm', 'cpu']) {
  await initBackend(b, { quiet: true });
  console.log('==', b);
  for (const [ta, tb] of [
    [false, false],
    [true, false],
    [false, true],
  ]) {
    const n = 256;
    const a = tf.randomNormal([n, n]),
      c = tf.randomNormal([n, n]);
    tf.matMul(a, c, ta, tb).dataSync();
    const t0 = performance.now();
    const r = 3;
    for (let i = 0; i < r; i++) {
      const o = tf.matMul(a, c, ta, tb);
      o.dataSync();
      o.dispose();
    }
    console.log(ta, tb, ((2 * n ** 3 * r) / ((performance.now() - t0) / 1000) / 1e9).toFixed(2), 'GFLOP/s');
  }
  const tryit = (name, f) => {
    try {
      const r = f();
      console.log(name, 'ok', Array.from(r.dataSync()).slice(0, 4));
    } catch (e) {
      console.log(name, 'FAIL', e.message.split('\n')[0]);
    }
  };
  const table = tf.tensor2d([
    [1, 2],
    [3, 4],
    [5, 6],
  ]);
  const ids = tf.tensor1d([0, 2, 0], 'int32');
  const m = tf.tensor2d([
    [1, 0],
    [0, 1],
    [1, 1],
  ]);
  tryit('gatherGrad', () => tf.grad((t) => tf.sum(tf.gather(t, ids)))(table));
  tryit('einsum', () => tf.einsum('ij,jk->ik', tf.transpose(table), table));
  tryit('logSoftmaxGrad', () => tf.grad((t) => tf.sum(tf.mul(tf.logSoftmax(t), m)))(table));
  tryit('softmaxGrad', () => tf.grad((t) => tf.sum(tf.mul(tf.softmax(t), m)))(table));
  tryit('sigmoidGrad', () => tf.grad((t) => tf.sum(tf.mul(tf.sigmoid(t), t)))(table));
  tryit('rsqrtMeanGrad', () =>
    tf.grad((t) => tf.sum(tf.mul(tf.rsqrt(tf.add(tf.mean(tf.square(t), -1, true), 1e-6)), t)))(table),
  );
  tryit('sliceConcatGrad', () =>
    tf.grad((t) =>
      tf.sum(
        tf.mul(tf.concat([tf.neg(tf.slice(t, [0, 1], [-1, 1])), tf.slice(t, [0, 0], [-1, 1])], -1), table),
      ),
    )(table),
  );
  tryit('whereGrad', () => tf.grad((t) => tf.sum(tf.where(tf.greater(t, 2), t, tf.zerosLike(t))))(table));
  tryit('bmmGrad', () =>
    tf.grad((t) => tf.sum(tf.matMul(tf.reshape(t, [1, 3, 2]), tf.reshape(t, [1, 3, 2]), false, true)))(table),
  );
  tryit('maxGrad', () => tf.grad((t) => tf.sum(tf.max(t, -1)))(table));
  tryit('logSumExpGrad', () => tf.grad((t) => tf.sum(tf.logSumExp(t, -1)))(table));
  tryit('gatherNDgrad', () =>
    tf.grad((t) => tf.sum(tf.gatherND(t, tf.tensor2d([[0], [2]], undefined, 'int32'))))(table),
  );
  tryit('transpose4d', () => tf.transpose(tf.randomNormal([2, 3, 4, 5]), [0, 2, 1, 3]));
  tryit('stridedSliceGrad', () => tf.grad((t) => tf.sum(tf.stridedSlice(t, [0, 0], [3, 2], [2, 1])))(table));
  tryit('divPowGrad', () => tf.grad((t) => tf.sum(tf.pow(tf.div(t, tf.add(t, 1)), tf.scalar(2))))(table));
  tryit('castMul', () =>
    tf.grad((t) => tf.sum(tf.mul(t, tf.cast(tf.reshape(ids, [3, 1]), 'float32'))))(table),
  );
  tryit('splitGrad', () =>
    tf.grad((t) => {
      const [a, b] = tf.split(t, 2, -1);
      return tf.sum(tf.mul(a, tf.add(b, 1)));
    })(table),
  );
  tryit('fusedMatMul bias grad', () =>
    tf.grad((t) =>
      tf.sum(tf.fused.matMul({ a: t, b: tf.transpose(t), transposeB: false, bias: tf.ones([3]) })),
    )(table),
  );
  tryit('softmaxCE', () => tf.grad((t) => tf.losses.softmaxCrossEntropy(m, t))(table));
  tryit('tileGrad', () => tf.grad((t) => tf.sum(tf.tile(t, [2, 1])))(table));
  tryit('expandDims/broadcastTo grad', () =>
    tf.grad((t) => tf.sum(tf.broadcastTo(tf.expandDims(t, 0), [2, 3, 2])))(table),
  );
  tryit('minimum/maximum grad', () => tf.grad((t) => tf.sum(tf.maximum(t, 3)))(table));
  tryit('cos/sin', () => tf.add(tf.cos(table), tf.sin(table)));
  tryit('sqrt grad', () => tf.grad((t) => tf.sum(tf.sqrt(t)))(table));
  tryit('exp/log grad', () => tf.grad((t) => tf.sum(tf.log(tf.exp(t))))(table));
  tryit('silu via sigmoid', () => tf.grad((t) => tf.sum(tf.mul(t, tf.sigmoid(t))))(table));
  tryit('relu grad', () => tf.grad((t) => tf.sum(tf.relu(t)))(table));
  tryit('gelu-ish tanh grad', () => tf.grad((t) => tf.sum(tf.tanh(t)))(table));
  tryit('clipByValue grad', () => tf.grad((t) => tf.sum(tf.clipByValue(t, 2, 4)))(table));
  tryit('topk', () => tf.topk(table, 1).values);
  tryit('argMax', () => tf.argMax(table, -1));
  tryit('abs grad', () => tf.grad((t) => tf.sum(tf.abs(t)))(table));
  tryit('mean grad int', () => tf.grad((t) => tf.mean(t))(table));
  tryit('squaredDifference grad', () => tf.grad((t) => tf.sum(tf.squaredDifference(t, 1)))(table));
  tryit('pad grad', () =>
    tf.grad((t) =>
      tf.sum(
        tf.pad(t, [
          [1, 0],
          [0, 0],
        ]),
      ),
    )(table),
  );
  tryit('stack/unstack grad', () => tf.grad((t) => tf.sum(tf.stack(tf.unstack(t))))(table));
  tryit('reverse grad', () => tf.grad((t) => tf.sum(tf.reverse(t, 0)))(table));
  tryit('cumsum grad', () => tf.grad((t) => tf.sum(tf.cumsum(t, 0)))(table));
  tryit('dropout', () => tf.dropout(table, 0.5, undefined, 1));
  tryit('logicalAnd', () => tf.logicalAnd(tf.greater(table, 1), tf.less(table, 5)));
  tryit('isNaN', () => tf.isNaN(table));
  tryit('min/prod', () => tf.grad((t) => tf.sum(tf.prod(t, -1)))(table));
}
process.exit(0);
