// The resize gradient kernels that replace tfjs 4.22's on cpu and wasm (src/backend/kernels/resizeGrad.ts),
// checked against references that do not use them: the forward op's exact Jacobian (resizing
// one-hot images) and a plain loop over tfjs's documented sampling rules.
import * as tf from '@tensorflow/tfjs';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { buildUNet3Plus, initBackend, registerWasmKernels } from '../src/index.js';
import { registerResizeGradCpuKernels, resizeGradCpuKernels, resizeGradWasmKernels } from '../src/backend/kernels/resizeGrad.js';
import { seeded } from './backendCompare.js';

type Kind = 'nearest' | 'bilinear';
interface Sampling { alignCorners: boolean; halfPixelCenters: boolean }

const KINDS: Kind[] = ['nearest', 'bilinear'];
// tfjs's ops reject alignCorners together with halfPixelCenters.
const SAMPLINGS: Sampling[] = [
  { alignCorners: false, halfPixelCenters: false },
  { alignCorners: true, halfPixelCenters: false },
  { alignCorners: false, halfPixelCenters: true },
];
// Up and down, square and not, 2→3, 12→23, 4→8, 8→4, and a single output row.
const SIZES: [[number, number], [number, number]][] = [
  [[2, 2], [3, 3]],
  [[2, 3], [3, 2]],
  [[12, 23], [23, 12]],
  [[4, 4], [8, 8]],
  [[8, 8], [4, 4]],
  [[4, 8], [8, 4]],
  [[5, 7], [1, 3]],
];
const BATCHES: [number, number][] = [[1, 2], [3, 3]]; // [batch, channels]

function resize(kind: Kind, x: tf.Tensor4D, size: [number, number], s: Sampling): tf.Tensor4D {
  return kind === 'nearest'
    ? tf.image.resizeNearestNeighbor(x, size, s.alignCorners, s.halfPixelCenters)
    : tf.image.resizeBilinear(x, size, s.alignCorners, s.halfPixelCenters);
}

/**
 * dx from the forward op alone. The resize is linear, so the finite difference
 * L(x + e_i) − L(x) = Σ_o dy[o] · resize(e_i)[o] is the exact derivative; all e_i are resized at
 * once as a batch of one-hot images.
 */
function jacobianGrad(kind: Kind, xShape: number[], size: [number, number], s: Sampling, dy: Float32Array): Float64Array {
  const [b, h, w, c] = xShape as [number, number, number, number];
  const [oh, ow] = size;
  const J = tf.tidy(() => resize(kind, tf.eye(h * w).reshape([h * w, h, w, 1]) as tf.Tensor4D, size, s).dataSync());
  const dx = new Float64Array(b * h * w * c);
  for (let n = 0; n < b; n++) {
    for (let i = 0; i < h * w; i++) {
      for (let o = 0; o < oh * ow; o++) {
        const weight = J[i * oh * ow + o]!;
        if (weight === 0) continue;
        for (let d = 0; d < c; d++) dx[(n * h * w + i) * c + d] += weight * dy[(n * oh * ow + o) * c + d]!;
      }
    }
  }
  return dx;
}

/**
 * dx by a plain loop over the output pixels, with tfjs's cpu sampling rules written out:
 * ratio = (in − a) / (out − a) (a = 1 with alignCorners and out > 1); nearest reads
 * min(in − 1, floor or round(ratio · (o [+ 0.5]))); bilinear lerps between floor and ceil of
 * ratio · o (or ratio · (o + 0.5) − 0.5), clamped to the image.
 */
function loopGrad(kind: Kind, xShape: number[], size: [number, number], s: Sampling, dy: Float32Array): Float64Array {
  const [b, h, w, c] = xShape as [number, number, number, number];
  const [oh, ow] = size;
  const reads = (inSize: number, outSize: number, o: number): [number, number][] => {
    const a = s.alignCorners && outSize > 1 ? 1 : 0;
    const ratio = (inSize - a) / (outSize - a);
    if (kind === 'nearest') {
      const src = s.halfPixelCenters ? ratio * (o + 0.5) : ratio * o;
      const i = Math.max(0, Math.min(inSize - 1, s.alignCorners ? Math.round(src) : Math.floor(src)));
      return [[i, 1]];
    }
    const src = Math.max(0, s.halfPixelCenters ? ratio * (o + 0.5) - 0.5 : ratio * o);
    const lo = Math.min(Math.floor(src), inSize - 1);
    const hi = Math.min(lo + 1, inSize - 1);
    const t = src - lo;
    return [[lo, 1 - t], [hi, t]];
  };
  const dx = new Float64Array(b * h * w * c);
  for (let n = 0; n < b; n++) {
    for (let y = 0; y < oh; y++) {
      for (let x = 0; x < ow; x++) {
        for (const [r, wr] of reads(h, oh, y)) {
          for (const [col, wc] of reads(w, ow, x)) {
            for (let d = 0; d < c; d++) {
              dx[((n * h + r) * w + col) * c + d] += wr * wc * dy[((n * oh + y) * ow + x) * c + d]!;
            }
          }
        }
      }
    }
  }
  return dx;
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Every kind × sampling × size × batch on the active backend: tf.grad against both references. */
function checkAll(kind: Kind, reference: 'jacobian' | 'loop'): void {
  const failures: string[] = [];
  let seed = 1;
  for (const s of SAMPLINGS) {
    for (const [[h, w], size] of SIZES) {
      for (const [b, c] of BATCHES) {
        const label = `${kind} ${h}x${w}→${size.join('x')} b${b} c${c} alignCorners=${s.alignCorners} halfPixelCenters=${s.halfPixelCenters}`;
        const x = seeded([b, h, w, c], seed++) as tf.Tensor4D;
        const dy = seeded([b, ...size, c], seed++);
        const before = tf.memory().numTensors;
        const g = tf.grad((t: tf.Tensor) => resize(kind, t as tf.Tensor4D, size, s))(x, dy);
        const got = g.dataSync();
        const shapeOk = g.shape.join() === x.shape.join();
        g.dispose();
        if (tf.memory().numTensors !== before) failures.push(`${label}: leaked ${tf.memory().numTensors - before} tensors`);
        const dyValues = dy.dataSync() as Float32Array;
        const want =
          reference === 'jacobian' ? jacobianGrad(kind, x.shape, size, s, dyValues) : loopGrad(kind, x.shape, size, s, dyValues);
        if (!shapeOk) failures.push(`${label}: shape ${g.shape} != ${x.shape}`);
        else if (!(maxDiff(got, want) <= 1e-5)) failures.push(`${label}: max |diff| ${maxDiff(got, want)}`);
        tf.dispose([x, dy]);
      }
    }
  }
  expect(failures).toEqual([]);
}

afterEach(() => {
  tf.disposeVariables();
});

afterAll(async () => {
  await tf.setBackend('cpu');
});

describe('resize gradient kernels on cpu (set with tf.setBackend, no initBackend)', () => {
  it('are registered on import, and registering again changes nothing', async () => {
    expect(await tf.setBackend('cpu')).toBe(true);
    for (const k of resizeGradCpuKernels) expect(tf.getKernel(k.kernelName, 'cpu')!.kernelFunc).toBe(k.kernelFunc);
    registerResizeGradCpuKernels();
    registerResizeGradCpuKernels();
    for (const k of resizeGradCpuKernels) expect(tf.getKernel(k.kernelName, 'cpu')!.kernelFunc).toBe(k.kernelFunc);
  });

  for (const kind of KINDS) {
    it(`${kind}: equal the forward op's exact Jacobian (finite differences of a linear map)`, async () => {
      await tf.setBackend('cpu');
      checkAll(kind, 'jacobian');
    });
    it(`${kind}: equal a plain-loop transpose of tfjs's sampling rules`, async () => {
      await tf.setBackend('cpu');
      checkAll(kind, 'loop');
    });
  }

  it('a nearest-upsampling model’s batch gradient is the sum of its per-image gradients', async () => {
    // tfjs 4.22's cpu kernel read dy at the images' batch offsets: images 2 and 3 got wrong gradients.
    await tf.setBackend('cpu');
    const model = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [3, 5, 2], filters: 3, kernelSize: 3, padding: 'same', kernelInitializer: tf.initializers.randomUniform({ seed: 1 }) }),
        tf.layers.upSampling2d({ size: [2, 2], interpolation: 'nearest' }),
        tf.layers.conv2d({ filters: 2, kernelSize: 3, padding: 'same', kernelInitializer: tf.initializers.randomUniform({ seed: 2 }) }),
      ],
    });
    const xs = seeded([3, 3, 5, 2], 7);
    const targets = seeded([3, 6, 10, 2], 8);
    const gradsOf = (x: tf.Tensor, y: tf.Tensor) =>
      tf.variableGrads(() => tf.sum(tf.square(tf.sub(model.apply(x) as tf.Tensor, y))) as tf.Scalar).grads;
    const batch = gradsOf(xs, targets);
    const perImage = [0, 1, 2].map((i) => gradsOf(tf.slice(xs, i, 1), tf.slice(targets, i, 1)));
    const names = Object.keys(batch);
    expect(names).toHaveLength(4);
    for (const name of names) {
      const sum = tf.addN(perImage.map((g) => g[name]!));
      const scale = tf.max(tf.abs(sum)).dataSync()[0]!;
      expect(scale).toBeGreaterThan(0.1);
      expect(tf.max(tf.abs(tf.sub(batch[name]!, sum))).dataSync()[0]! / scale).toBeLessThan(1e-5);
    }
    model.dispose();
  });

  it('train a UNet 3+ (bilinear upsampling) on a non-square input', async () => {
    // tfjs 4.22's cpu bilinear gradient came back as [b, w, h, c]: training threw on non-square inputs.
    await tf.setBackend('cpu');
    const model = buildUNet3Plus({ filters: [4, 8, 16], inputShape: [8, 12, 1], catChannels: 2 });
    model.compile({ optimizer: tf.train.sgd(0.1), loss: 'binaryCrossentropy' });
    const x = seeded([2, 8, 12, 1], 3);
    const y = tf.cast(tf.greater(seeded([2, 8, 12, 1], 4), 0), 'float32');
    const before = model.getWeights()[0]!.dataSync().slice();
    const loss = (await model.trainOnBatch(x, y)) as number;
    expect(Number.isFinite(loss)).toBe(true);
    expect(maxDiff(model.getWeights()[0]!.dataSync(), before)).toBeGreaterThan(0);
    tf.dispose([x, y]);
    model.dispose();
  });

  it('reject mismatched images and dy with a clear error', async () => {
    await tf.setBackend('cpu');
    const images = tf.zeros([2, 3, 4, 1]);
    const dy = tf.zeros([1, 6, 8, 1]);
    expect(() =>
      tf.engine().runKernel(tf.ResizeBilinearGrad, { images, dy }, { alignCorners: false, halfPixelCenters: false }),
    ).toThrow(/ResizeBilinearGrad: images and dy must be NHWC with the same batch and channels, got images \[2,3,4,1\] and dy \[1,6,8,1\]/);
    tf.dispose([images, dy]);
  });
});

describe('resize gradient kernels on wasm', () => {
  it('are registered by initBackend / registerWasmKernels', async () => {
    expect(await initBackend('wasm')).toBe('wasm');
    registerWasmKernels();
    for (const k of resizeGradWasmKernels) expect(tf.getKernel(k.kernelName, 'wasm')!.kernelFunc).toBe(k.kernelFunc);
  });

  for (const kind of KINDS) {
    // The Jacobian reference is the wasm forward kernel itself (whose nearest rounds in float32).
    it(`${kind}: equal the wasm forward op's exact Jacobian`, async () => {
      expect(await initBackend('wasm')).toBe('wasm');
      checkAll(kind, 'jacobian');
    });
  }
});
