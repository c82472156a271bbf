import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { loadStateDict, modelStateDict, stateDictMapping, type StateDict } from '../src/io/stateDict.js';

type T = tf.SymbolicTensor;

/** One layer of every mapped class, named like PyTorch modules. */
function smallModel(): tf.LayersModel {
  const input = tf.input({ shape: [4, 4, 2] });
  let x = tf.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same', name: 'net.conv' }).apply(input) as T;
  x = tf.layers.batchNormalization({ name: 'net.bn' }).apply(x) as T;
  x = tf.layers.depthwiseConv2d({ kernelSize: 1, depthMultiplier: 2, name: 'net.dw' }).apply(x) as T;
  x = tf.layers.conv2dTranspose({ filters: 5, kernelSize: 2, strides: 2, useBias: false, name: 'net.up' }).apply(x) as T;
  x = tf.layers.activation({ activation: 'relu', name: 'net.relu' }).apply(x) as T;
  x = tf.layers.dense({ units: 2, name: 'net.fc' }).apply(x) as T;
  return tf.model({ inputs: input, outputs: x });
}

/** Random values for every key of the model, PyTorch layout. */
function randomStateDict(model: tf.LayersModel, seed = 1): StateDict {
  const out: StateDict = {};
  let s = seed;
  for (const m of stateDictMapping(model)) {
    const n = m.shape.reduce((a, b) => a * b, 1);
    out[m.key] = { shape: m.shape, data: Float32Array.from({ length: n }, () => ((s = (s * 16807) % 2147483647) / 2147483647) + 0.1) };
  }
  return out;
}

describe('stateDictMapping', () => {
  it('maps every weight by layer class to PyTorch keys and shapes', () => {
    const model = smallModel();
    expect(stateDictMapping(model).map((m) => [m.key, m.shape, m.tfShape, m.layerClass, m.weightIndex, m.trainable])).toEqual([
      ['net.conv.weight', [3, 2, 3, 3], [3, 3, 2, 3], 'Conv2D', 0, true],
      ['net.conv.bias', [3], [3], 'Conv2D', 1, true],
      ['net.bn.weight', [3], [3], 'BatchNormalization', 0, true],
      ['net.bn.bias', [3], [3], 'BatchNormalization', 1, true],
      ['net.bn.running_mean', [3], [3], 'BatchNormalization', 2, false],
      ['net.bn.running_var', [3], [3], 'BatchNormalization', 3, false],
      ['net.dw.weight', [6, 1, 1, 1], [1, 1, 3, 2], 'DepthwiseConv2D', 0, true],
      ['net.dw.bias', [6], [6], 'DepthwiseConv2D', 1, true],
      ['net.up.weight', [6, 5, 2, 2], [2, 2, 5, 6], 'Conv2DTranspose', 0, true],
      ['net.fc.weight', [2, 5], [5, 2], 'Dense', 0, true],
      ['net.fc.bias', [2], [2], 'Dense', 1, true],
    ]);
    model.dispose();
  });

  it('a weighted layer without a PyTorch mapping is an error naming it', () => {
    const input = tf.input({ shape: [3] });
    const y = tf.layers.embedding({ inputDim: 4, outputDim: 2, name: 'emb' }).apply(input) as T;
    const model = tf.model({ inputs: input, outputs: y });
    expect(() => stateDictMapping(model)).toThrow("layer 'emb' (Embedding) holds weights but has no PyTorch mapping");
  });
});

describe('loadStateDict / modelStateDict', () => {
  it('PyTorch layouts land where PyTorch’s operators read them', () => {
    const model = smallModel();
    const sd = randomStateDict(model);
    loadStateDict(model, sd);
    const byName = (layer: string, i: number) => model.getLayer(layer).getWeights()[i]!.arraySync() as never;
    // Conv2D: torch weight[o][i][h][w] = TF kernel[h][w][i][o].
    const k = byName('net.conv', 0) as number[][][][];
    const w = sd['net.conv.weight']!.data;
    for (const [o, i, h, x] of [[0, 0, 0, 0], [2, 1, 0, 2], [1, 0, 2, 1]] as const) {
      expect(k[h][x][i][o]).toBe(w[((o * 2 + i) * 3 + h) * 3 + x]);
    }
    // Depthwise, multiplier 2: output channel c·2 + j reads input channel c with torch weight[c·2 + j].
    const dw = byName('net.dw', 0) as number[][][][];
    for (let c = 0; c < 3; c++) for (let j = 0; j < 2; j++) expect(dw[0][0][c][j]).toBe(sd['net.dw.weight']!.data[c * 2 + j]);
    // ConvTranspose2d: torch weight[i][o][h][w] = TF kernel[h][w][o][i].
    const up = byName('net.up', 0) as number[][][][];
    for (const [i, o, h, x] of [[0, 0, 0, 0], [5, 4, 1, 0], [3, 2, 0, 1]] as const) {
      expect(up[h][x][o][i]).toBe(sd['net.up.weight']!.data[((i * 5 + o) * 2 + h) * 2 + x]);
    }
    // Linear: torch weight[o][i] = TF kernel[i][o].
    const fc = byName('net.fc', 0) as number[][];
    expect(fc[4][1]).toBe(sd['net.fc.weight']!.data[1 * 5 + 4]);
    // BatchNorm: gamma, beta, moving mean, moving variance.
    expect(Array.from((model.getLayer('net.bn').getWeights()[3]!.dataSync()))).toEqual(Array.from(sd['net.bn.running_var']!.data));
    model.dispose();
  });

  it('numerically: a transposed conv and a dense layer compute what PyTorch would', () => {
    const input = tf.input({ shape: [1, 1, 2] });
    const up = tf.layers.conv2dTranspose({ filters: 3, kernelSize: 2, strides: 2, name: 'up' }).apply(input) as T;
    const fc = tf.layers.dense({ units: 2, name: 'fc' }).apply(up) as T;
    const model = tf.model({ inputs: input, outputs: [up, fc] });
    const sd = randomStateDict(model, 7);
    loadStateDict(model, sd);
    const xin = [0.5, -2];
    const [yUp, yFc] = model.predict(tf.tensor4d(xin, [1, 1, 1, 2])) as tf.Tensor[];
    const u = yUp!.arraySync() as number[][][][];
    const W = sd['up.weight']!.data; // [in 2, out 3, 2, 2]
    const b = sd['up.bias']!.data;
    for (let h = 0; h < 2; h++) {
      for (let x = 0; x < 2; x++) {
        for (let o = 0; o < 3; o++) {
          const expected = xin[0]! * W[((0 * 3 + o) * 2 + h) * 2 + x]! + xin[1]! * W[((1 * 3 + o) * 2 + h) * 2 + x]! + b[o]!;
          expect(u[0]![h]![x]![o]).toBeCloseTo(expected, 5);
          const fcOut = (yFc!.arraySync() as number[][][][])[0]![h]![x]!;
          const Wf = sd['fc.weight']!.data; // [out 2, in 3]
          for (let k = 0; k < 2; k++) {
            const e = [0, 1, 2].reduce((acc, i) => acc + u[0]![h]![x]![i]! * Wf[k * 3 + i]!, sd['fc.bias']!.data[k]!);
            expect(fcOut[k]).toBeCloseTo(e, 5);
          }
        }
      }
    }
    tf.dispose([yUp!, yFc!]);
    model.dispose();
  });

  it('round trip: modelStateDict → loadStateDict reproduces every weight exactly; no tensors leak', () => {
    const a = smallModel();
    loadStateDict(a, randomStateDict(a, 3));
    const b = smallModel();
    const before = tf.memory().numTensors;
    const sd = modelStateDict(a);
    const result = loadStateDict(b, sd);
    expect(tf.memory().numTensors).toBe(before);
    expect(result).toEqual({ loaded: Object.keys(sd), missing: [], unexpected: [], ignored: [] });
    expect(Object.keys(sd)).toEqual(stateDictMapping(a).map((m) => m.key));
    a.weights.forEach((w, i) => expect(Array.from(b.weights[i]!.read().dataSync())).toEqual(Array.from(w.read().dataSync())));
    // The loaded arrays are copies: changing the state dict later does not change the model.
    sd['net.conv.bias']!.data[0] = 1234;
    expect(b.getLayer('net.conv').getWeights()[1]!.dataSync()[0]).not.toBe(1234);
    a.dispose();
    b.dispose();
  });

  it('num_batches_tracked is ignored and reported', () => {
    const model = smallModel();
    const sd = randomStateDict(model);
    sd['net.bn.num_batches_tracked'] = { shape: [], data: new Float32Array([7]) };
    const r = loadStateDict(model, sd);
    expect(r.ignored).toEqual(['net.bn.num_batches_tracked']);
    expect(r.unexpected).toEqual([]);
    model.dispose();
  });

  it('strict: missing, unexpected and mis-shaped keys are named, and nothing is loaded', () => {
    const model = smallModel();
    const original = modelStateDict(model);
    const sd = randomStateDict(model);
    delete sd['net.bn.running_var'];
    sd['net.extra.weight'] = { shape: [1], data: new Float32Array(1) };
    sd['net.conv.weight'] = { shape: [3, 3, 2, 3], data: new Float32Array(54) };
    let message = '';
    try {
      loadStateDict(model, sd);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toContain('1 missing key(s): net.bn.running_var');
    expect(message).toContain('1 unexpected key(s): net.extra.weight');
    expect(message).toContain("shape mismatch for 'net.conv.weight': given [3, 3, 2, 3], the model's (PyTorch layout) is [3, 2, 3, 3]");
    expect(message).toContain('Nothing was loaded');
    expect(modelStateDict(model)).toEqual(original);
    model.dispose();
  });

  it('data that does not fill its shape is an error naming the key', () => {
    const model = smallModel();
    const sd = randomStateDict(model);
    sd['net.fc.bias'] = { shape: [2], data: new Float32Array(3) };
    expect(() => loadStateDict(model, sd)).toThrow("'net.fc.bias' has 3 values, its shape [2] needs 2 float32 values");
    sd['net.fc.bias'] = { shape: [2], data: [1, 2] as unknown as Float32Array };
    expect(() => loadStateDict(model, sd)).toThrow("'net.fc.bias' has data that is not a Float32Array");
    model.dispose();
  });

  it('non-strict: loads what matches and reports the rest; shape mismatches still throw', () => {
    const model = smallModel();
    const sd = randomStateDict(model);
    delete sd['net.fc.weight'];
    sd['other.weight'] = { shape: [1], data: new Float32Array(1) };
    const r = loadStateDict(model, sd, { strict: false });
    expect(r.missing).toEqual(['net.fc.weight']);
    expect(r.unexpected).toEqual(['other.weight']);
    expect(r.loaded).toHaveLength(10);
    expect(Array.from(model.getLayer('net.fc').getWeights()[1]!.dataSync())).toEqual(Array.from(sd['net.fc.bias']!.data));
    sd['net.fc.bias'] = { shape: [3], data: new Float32Array(3) };
    expect(() => loadStateDict(model, sd, { strict: false })).toThrow("shape mismatch for 'net.fc.bias'");
    model.dispose();
  });
});
