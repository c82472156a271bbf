import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.js';
import {
  createModel,
  createSegmentationDataset,
  finalOutputIndex,
  MODEL_INFO_KEY,
  modelInfo,
  pruneUNetPlusPlus,
  setModelInfo,
  syntheticCells,
  train,
  type ModelInfo,
} from '../src/node.js';
import { maxAbsDiff, randomImage } from './helpers.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'smtf-info-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
afterEach(() => {
  tf.disposeVariables();
});

// [model, options, expected info (options aside)]
const cases: [string, object, Omit<ModelInfo, 'options'>][] = [
  [
    'unet',
    { inputShape: [44, 44, 1], filters: [4, 8, 16] },
    {
      architecture: 'unet',
      encoder: 'plain',
      encoderDepth: 2,
      encoderFeatures: ['enc0_act2', 'enc1_act2', 'bottleneck_act2'],
      outputs: [{ name: 'head', role: 'segmentation' }],
    },
  ],
  [
    'unet-padded',
    { inputShape: [16, 16, 3], filters: [4, 8], dropout: 0.1 },
    {
      architecture: 'unet-padded',
      encoder: 'plain',
      encoderDepth: 1,
      encoderFeatures: ['enc0_drop2', 'bottleneck_drop2'],
      outputs: [{ name: 'head', role: 'segmentation' }],
    },
  ],
  [
    'unet++',
    { inputShape: [16, 16, 1], filters: [4, 8, 16], deepSupervision: true },
    {
      architecture: 'unet++',
      encoder: 'plain',
      encoderDepth: 2,
      encoderFeatures: ['x0_0_act2', 'x1_0_act2', 'x2_0_act2'],
      outputs: [
        { name: 'head_0_2', role: 'segmentation' },
        { name: 'head_0_1', role: 'deep-supervision' },
      ],
    },
  ],
  [
    'unet3+',
    { inputShape: [16, 16, 1], filters: [4, 8, 16], cgm: true },
    {
      architecture: 'unet3+',
      encoder: 'plain',
      encoderDepth: 2,
      encoderFeatures: ['enc1_act2', 'enc2_act2', 'enc3_act2'],
      outputs: [
        { name: 'd1', role: 'segmentation' },
        { name: 'd2', role: 'deep-supervision' },
        { name: 'd3', role: 'deep-supervision' },
        { name: 'cls', role: 'classification' },
      ],
    },
  ],
];

describe('ModelInfo: what a model knows about itself', () => {
  it.each(cases)('%s %j records its architecture, encoder, outputs and options', (name, opts, expected) => {
    const model = createModel(name, opts);
    const info = modelInfo(model)!;
    expect(info).toMatchObject(expected);
    expect(info.outputs.map((o) => o.name)).toEqual(model.outputNames);
    expect(info.options).toMatchObject(opts);
    // The recorded options (defaults filled in) rebuild the same model.
    const again = createModel(info.architecture, info.options);
    expect(JSON.stringify(again.toJSON(null, false))).toBe(JSON.stringify(model.toJSON(null, false)));
    expect(modelInfo(again)).toEqual(info);
    again.dispose();
    model.dispose();
  });

  it('survives save/load through the file:// handler, and so do the predictions', async () => {
    const model = createModel('unet3+', { inputShape: [16, 16, 1], filters: [4, 8, 16], cgm: true });
    const url = `file://${join(dir, 'unet3plus')}`;
    await model.save(url);
    const loaded = await tf.loadLayersModel(`${url}/model.json`);
    expect(modelInfo(loaded)).toEqual(modelInfo(model));
    expect(finalOutputIndex(loaded)).toBe(0);
    const x = randomImage([1, 16, 16, 1]);
    const [a, b] = [model.predict(x) as tf.Tensor[], loaded.predict(x) as tf.Tensor[]];
    expect(maxAbsDiff(a, b)).toBe(0);
    tf.dispose([x, ...a, ...b]);
    model.dispose();
    loaded.dispose();
  });

  it('keeps other user-defined metadata; null for foreign models; clear errors when malformed', () => {
    const model = createModel('unet-padded', { inputShape: [8, 8, 1], filters: [2, 4] });
    const info = modelInfo(model)!;
    model.setUserDefinedMetadata({ mine: 1, [MODEL_INFO_KEY]: info });
    setModelInfo(model, { ...info, options: { ...info.options, name: 'renamed' } });
    expect(model.getUserDefinedMetadata()).toMatchObject({ mine: 1 });
    expect(modelInfo(model)!.options.name).toBe('renamed');
    expect(() => setModelInfo(model, { ...info, outputs: [{ name: 'other', role: 'segmentation' }] })).toThrow(
      /outputs \["other"\] do not match the outputs of 'unet_padded' \(\["head"\]\)/,
    );
    model.setUserDefinedMetadata({ [MODEL_INFO_KEY]: { ...info, outputs: [{ name: 'head', role: 'mask' }] } });
    expect(() => modelInfo(model)).toThrow(/metadata of model 'unet_padded' is malformed: outputs must be a list of \{ name, role \}/);
    model.setUserDefinedMetadata({ [MODEL_INFO_KEY]: { ...info, encoderDepth: -1 } });
    expect(() => modelInfo(model)).toThrow(/malformed: encoderDepth must be an integer >= 0/);
    model.setUserDefinedMetadata({});
    expect(modelInfo(model)).toBeNull();
    expect(finalOutputIndex(model)).toBe(0);
    const input = tf.input({ shape: [4] });
    const foreign = tf.model({ inputs: input, outputs: tf.layers.dense({ units: 1 }).apply(input) as tf.SymbolicTensor });
    expect(modelInfo(foreign)).toBeNull();
    expect(() => modelInfo({} as tf.LayersModel)).toThrow(/model must be a tf.LayersModel/);
    foreign.dispose();
    model.dispose();
  });
});

describe('pruneUNetPlusPlus and the metadata', () => {
  it('the pruned model records its level; models without metadata prune by layer names, to the same result', () => {
    const model = createModel('unet++', { inputShape: [16, 16, 1], filters: [2, 4, 8], deepSupervision: true });
    const pruned = pruneUNetPlusPlus(model, 1);
    expect(modelInfo(pruned)).toMatchObject({
      architecture: 'unet++',
      prunedLevel: 1,
      encoderFeatures: ['x0_0_act2', 'x1_0_act2'],
      outputs: [{ name: 'head_0_1', role: 'segmentation' }],
    });
    expect(() => pruneUNetPlusPlus(pruned, 2)).toThrow(/level must be an integer from 1 to 1/);
    const x = randomImage([1, 16, 16, 1]);
    const a = pruned.predict(x) as tf.Tensor;
    model.setUserDefinedMetadata({}); // as saved by an earlier version
    const byNames = pruneUNetPlusPlus(model, 1);
    expect(byNames.outputNames).toEqual(['head_0_1']);
    expect(modelInfo(byNames)).toBeNull();
    const b = byNames.predict(x) as tf.Tensor;
    expect(maxAbsDiff(a, b)).toBe(0);
    tf.dispose([x, a, b]);
    const unet3 = createModel('unet3+', { inputShape: [8, 8, 1], filters: [2, 4] });
    expect(() => pruneUNetPlusPlus(unet3, 1)).toThrow(/is not a UNet\+\+ built by buildUNetPlusPlus \/ createModel\('unet\+\+'\) \(its metadata says 'unet3\+'\)/);
    for (const m of [byNames, pruned, model, unet3]) m.dispose();
  });
});

describe('train() reads the output roles', () => {
  const samples = syntheticCells({ count: 4, size: 16, seed: 3 });

  it('from the metadata, and from the shapes for a model without it (UNet 3+ with CGM)', async () => {
    const data = createSegmentationDataset(samples, { validationSplit: 0, seed: 1 });
    for (const strip of [false, true]) {
      const model = createModel('unet3+', { inputShape: [16, 16, 1], filters: [2, 4], cgm: true });
      if (strip) model.setUserDefinedMetadata({});
      const result = await train(model, data, { epochs: 1, batchSize: 4, verbose: 0 });
      expect(Number.isFinite(result.history[0]!.loss)).toBe(true);
      model.dispose();
    }
  });

  it('names an output whose role does not fit its shape', async () => {
    const data = createSegmentationDataset(samples, { validationSplit: 0, seed: 1 });
    const model = createModel('unet3+', { inputShape: [16, 16, 1], filters: [2, 4], cgm: true });
    const info = modelInfo(model)!;
    setModelInfo(model, { ...info, outputs: info.outputs.map((o) => ({ ...o, role: 'deep-supervision' as const })) });
    await expect(train(model, data, { epochs: 1, verbose: 0 })).rejects.toThrow(
      /train: deep-supervision output 'cls' has shape \[null,2\]; expected \[B, H, W, C\]/,
    );
    setModelInfo(model, { ...info, outputs: info.outputs.map((o) => ({ ...o, role: 'classification' as const })) });
    await expect(train(model, data, { epochs: 1, verbose: 0 })).rejects.toThrow(
      /train: classification output 'd1' has shape \[null,16,16,1\]; train\(\) supports one classification output, the CGM's \[B, 2\]/,
    );
    model.dispose();
  });
});

describe('CLI summary', () => {
  it('prints what the model is', async () => {
    const lines: string[] = [];
    await main(['summary', 'unet++', '--input', '16,16,1', '--filters', '2,4,8', '--deep-supervision'], (s) => lines.push(s));
    expect(lines.join('\n')).toContain(
      'Model: unet++ on the plain encoder (depth 2); outputs: head_0_2 (segmentation), head_0_1 (deep-supervision)',
    );
  });
});
