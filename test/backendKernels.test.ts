import { describe, it, expect, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/index.js';
import { setPatchChunkLimit, setShiftedGroupPixels } from '../src/backend/kernels/conv2dBackpropFilter.js';
import { compare, filterGrad, seeded, withChunkLimits } from './backendCompare.js';

type Pad = 'same' | 'valid';

beforeAll(async () => {
  expect(await initBackend('wasm')).toBe('wasm');
});

interface ConvCase {
  b: number; h: number; w: number; ci: number; co: number; k: [number, number]; s: number; pad: Pad;
}

// Strides 1 and 2, 'same' and 'valid', odd sizes, several channel counts, kernel sizes and batches.
const convCases: ConvCase[] = [];
for (const s of [1, 2]) {
  for (const pad of ['same', 'valid'] as Pad[]) {
    convCases.push({ b: 1, h: 7, w: 9, ci: 1, co: 4, k: [3, 3], s, pad });
    convCases.push({ b: 2, h: 8, w: 8, ci: 3, co: 5, k: [3, 3], s, pad });
    convCases.push({ b: 3, h: 11, w: 6, ci: 8, co: 2, k: [2, 2], s, pad });
    convCases.push({ b: 2, h: 9, w: 10, ci: 4, co: 16, k: [5, 3], s, pad });
    convCases.push({ b: 1, h: 5, w: 5, ci: 6, co: 3, k: [1, 1], s, pad });
    convCases.push({ b: 2, h: 6, w: 7, ci: 2, co: 3, k: [4, 2], s, pad });
  }
}
// Larger stride-1 cases: thin padding relative to the image takes the "shifted windows" path.
for (const pad of ['same', 'valid'] as Pad[]) {
  convCases.push({ b: 2, h: 20, w: 23, ci: 3, co: 5, k: [3, 3], s: 1, pad });
  convCases.push({ b: 1, h: 24, w: 24, ci: 1, co: 4, k: [2, 2], s: 1, pad });
  convCases.push({ b: 3, h: 18, w: 21, ci: 8, co: 6, k: [5, 3], s: 1, pad });
}
const name = (c: ConvCase) => `b${c.b} ${c.h}x${c.w} ${c.ci}->${c.co} k${c.k.join('x')} s${c.s} ${c.pad}`;

describe('wasm Conv2DBackpropFilter / Conv2DBackpropInput match cpu', () => {
  for (const c of convCases) {
    it(`conv2d gradients (dx, dW): ${name(c)}`, async () => {
      await compare(() => {
        const x = seeded([c.b, c.h, c.w, c.ci], 1);
        const w = seeded([c.k[0], c.k[1], c.ci, c.co], 2);
        const y = tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, c.s, c.pad);
        const dy = seeded(y.shape, 3);
        const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
          tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.s, c.pad),
        )([x, w], dy);
        return [dx, dw];
      });
    });
    it(`conv2dTranspose forward and gradients: ${name(c)}`, async () => {
      await compare(() => {
        // conv2dTranspose maps [b, oh, ow, co] -> [b, h, w, ci] with filter [k, k, ci, co].
        const probe = tf.conv2d(tf.zeros([c.b, c.h, c.w, c.ci]) as tf.Tensor4D, tf.zeros([c.k[0], c.k[1], c.ci, c.co]) as tf.Tensor4D, c.s, c.pad);
        const x = seeded(probe.shape, 4);
        const w = seeded([c.k[0], c.k[1], c.ci, c.co], 5);
        const f = (a: tf.Tensor, b: tf.Tensor) =>
          tf.conv2dTranspose(a as tf.Tensor4D, b as tf.Tensor4D, [c.b, c.h, c.w, c.ci], c.s, c.pad);
        const y = f(x, w);
        const [dx, dw] = tf.grads(f)([x, w], seeded(y.shape, 6));
        return [y, dx, dw];
      });
    });
  }

  it('explicit padding (larger than the kernel) and dimRoundingMode', async () => {
    await compare(() => {
      const x = seeded([2, 7, 6, 3], 7);
      const w = seeded([3, 2, 3, 4], 8);
      const pad: tf.backend_util.ExplicitPadding = [[0, 0], [4, 1], [0, 3], [0, 0]];
      const f = (a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, [2, 1], pad);
      const y = f(x, w);
      return tf.grads(f)([x, w], seeded(y.shape, 9));
    });
  });

  it('chunked filter gradient (bounded patch matrix, strided path) equals cpu', async () => {
    const old = setPatchChunkLimit(3 * 3 * 5 * 4 * 2); // two output rows per chunk
    try {
      await compare(() => {
        const x = seeded([2, 9, 7, 5], 10);
        const w = seeded([3, 3, 5, 6], 11);
        const f = (a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same');
        return [tf.grads(f)([x, w], seeded([2, 5, 4, 6], 12))[1]!];
      });
    } finally {
      setPatchChunkLimit(old);
    }
  });

  it('stride-1 filter gradient accumulated over image groups (2 + a short group of 1) equals cpu', async () => {
    const old = setShiftedGroupPixels(2 * 22 * 25); // 20×23 'same' 3×3: padded 22×25 per image
    try {
      await compare(() => {
        const x = seeded([3, 20, 23, 4], 23);
        const w = seeded([3, 3, 4, 5], 24);
        const f = (a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same');
        return [tf.grads(f)([x, w], seeded([3, 20, 23, 5], 25))[1]!];
      });
    } finally {
      setShiftedGroupPixels(old);
    }
  });

  it('stride-1 filter gradient in bands of output rows (images larger than the pixel budget) equals cpu', async () => {
    // 20×23 'same' 3×3: 25 padded columns, bands of 6 output rows
    await withChunkLimits({ shiftedPixels: 8 * 25 }, () =>
      compare(() => {
        const x = seeded([2, 20, 23, 4], 26);
        const w = seeded([3, 3, 4, 5], 27);
        return [filterGrad(x, w, 1, 'same', 28), filterGrad(x, w, 1, 'valid', 29)];
      }),
    );
  });

  it('strided filter gradient in groups of images and in row chunks of one image equals cpu', async () => {
    for (const limit of [3 * 3 * 5 * 5 * 4 * 2, 3 * 3 * 5 * 4 * 2]) { // two images per group; two rows per chunk
      const old = setPatchChunkLimit(limit);
      try {
        await compare(() => {
          const x = seeded([5, 9, 7, 5], 30);
          const w = seeded([3, 3, 5, 6], 31);
          const f = (a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same');
          const t = (a: tf.Tensor, b: tf.Tensor) => tf.conv2dTranspose(a as tf.Tensor4D, b as tf.Tensor4D, [5, 10, 8, 5], 2, 'valid');
          return [tf.grads(f)([x, w], seeded([5, 5, 4, 6], 32))[1]!, tf.grads(t)([seeded([5, 5, 4, 6], 33), w.slice([0, 0, 0, 0], [2, 2, 5, 6])], seeded([5, 10, 8, 5], 34))[1]!];
        });
      } finally {
        setPatchChunkLimit(old);
      }
    }
  });

  it('matches an independent direct-sum reference for the filter gradient', async () => {
    await tf.setBackend('wasm');
    const [B, H, W, CI, CO, K] = [2, 5, 4, 2, 3, 3];
    const xv = Array.from({ length: B * H * W * CI }, (_, i) => Math.sin(i * 1.7));
    const gv = Array.from({ length: B * H * W * CO }, (_, i) => Math.cos(i * 0.9));
    const dw = tf.tidy(() =>
      tf.grad((w: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(tf.tensor4d(xv, [B, H, W, CI]), w as tf.Tensor4D, 1, 'same'), tf.tensor4d(gv, [B, H, W, CO]))))(tf.zeros([K, K, CI, CO])),
    );
    const got = dw.dataSync();
    dw.dispose();
    // dW[kh,kw,ci,co] = Σ x[b, y+kh-1, x+kw-1, ci] · g[b, y, x, co] (zero outside)
    for (let kh = 0; kh < K; kh++) for (let kw = 0; kw < K; kw++) for (let ci = 0; ci < CI; ci++) for (let co = 0; co < CO; co++) {
      let s = 0;
      for (let b = 0; b < B; b++) for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
        const iy = y + kh - 1;
        const ix = x + kw - 1;
        if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
        s += xv[((b * H + iy) * W + ix) * CI + ci] * gv[((b * H + y) * W + x) * CO + co];
      }
      expect(got[((kh * K + kw) * CI + ci) * CO + co]).toBeCloseTo(s, 4);
    }
  });

  it('leaves no tensors or wasm buffers behind', async () => {
    await tf.setBackend('wasm');
    const x = seeded([2, 9, 9, 4], 13);
    const w = seeded([3, 3, 4, 6], 14);
    const up = seeded([2, 2, 6, 4], 15);
    const run = () => tf.tidy(() => {
      const f = (a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same');
      const grads = tf.grads(f)([x, w], seeded([2, 5, 5, 6], 16));
      const t = tf.conv2dTranspose(seeded([2, 4, 4, 4], 17) as tf.Tensor4D, up as tf.Tensor4D, [2, 8, 8, 6], 2, 'same');
      const big = seeded([2, 24, 24, 4], 18); // stride 1, thin padding: the shifted-windows path
      const g1 = (a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same');
      const shifted = tf.grads(g1)([big, w], seeded([2, 24, 24, 6], 19));
      return [...grads, t, ...shifted].map((g) => g.dataSync()); // force execution
    });
    run();
    const tensors = tf.memory().numTensors;
    const buffers = tf.engine().backend.numDataIds();
    run();
    run();
    expect(tf.memory().numTensors).toBe(tensors);
    expect(tf.engine().backend.numDataIds()).toBe(buffers);
    tf.dispose([x, w, up]);
  });

  it('rejects non-float32 input with a clear error', async () => {
    await tf.setBackend('wasm');
    const x = tf.ones([1, 4, 4, 1], 'int32');
    const dy = tf.ones([1, 4, 4, 1]);
    expect(() => tf.conv2dTranspose(dy as tf.Tensor4D, tf.ones([3, 3, 1, 1], 'int32') as tf.Tensor4D, [1, 4, 4, 1], 1, 'same')).toThrow(/float32/);
    tf.dispose([x, dy]);
  });
});
