import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { createModel, listModels, registerModel, resolveModelName } from '../src/index.js';

describe('registry', () => {
  it('lists the canonical names', () => {
    expect(listModels()).toEqual(['unet', 'unet-padded', 'unet++', 'unet3+']);
  });

  it('refuses a name or alias another model has, and then registers nothing', () => {
    const spec = { name: 'my-unet', aliases: ['my-net', 'unet-same'], description: 'x', build: () => createModel('unet') };
    expect(() => registerModel(spec)).toThrow("registerModel: name 'unet-same' of 'my-unet' is already taken by 'unet-padded'");
    expect(listModels()).toEqual(['unet', 'unet-padded', 'unet++', 'unet3+']);
    expect(() => resolveModelName('my-net')).toThrow(/unknown model 'my-net'/);
    expect(resolveModelName('unet-same')).toBe('unet-padded');
  });

  it('resolves names case-insensitively and through aliases', () => {
    expect(resolveModelName('UNet')).toBe('unet');
    expect(resolveModelName('UNET_PADDED')).toBe('unet-padded');
    expect(resolveModelName('padded-unet')).toBe('unet-padded');
    expect(resolveModelName('Unet Padded')).toBe('unet-padded');
  });

  it('builds by name', () => {
    const m = createModel('Unet-Padded', { filters: [2, 4], inputShape: [8, 8, 1] });
    expect(m.outputs[0]!.shape).toEqual([null, 8, 8, 1]);
    m.dispose();
  });
});

describe('bad input gets a clear Error', () => {
  const tiny = { filters: [4, 8, 16] };
  const cases: [string, string, object, RegExp][] = [
    ['unknown model', 'segnet', {}, /unknown model 'segnet'\. Known models: unet, unet-padded/],
    ['classic size', 'unet', { ...tiny, inputShape: [50, 50, 1] }, /cannot take input size 50.*Nearest valid sizes: 48 or 52/],
    ['padded size', 'unet-padded', { ...tiny, inputShape: [30, 32, 1] }, /height 30 is not divisible by 2\^2 = 4.*nearest valid sizes: 28 or 32/],
    ['padded width', 'unet-padded', { filters: [4, 8, 16, 32, 64], inputShape: [32, 250, 1] }, /width 250 .*2\^4 = 16.*240 or 256/],
    ['fractional filters', 'unet-padded', { filters: [4, 8.5] }, /filters\[1\] must be an integer >= 1, got 8\.5\./],
    ['negative filters', 'unet', { filters: [4, -8] }, /filters\[1\] must be an integer >= 1, got -8\./],
    ['one level', 'unet-padded', { filters: [4] }, /at least 2 levels/],
    ['zero classes', 'unet-padded', { ...tiny, numClasses: 0 }, /numClasses must be an integer >= 1, got 0/],
    ['unknown key', 'unet-padded', { ...tiny, filtres: [1, 2] }, /unknown option 'filtres'\. Known options: .*filters/],
    ['2-D inputShape', 'unet-padded', { ...tiny, inputShape: [32, 32] }, /inputShape must be \[height, width, channels\]/],
    ['null channels', 'unet-padded', { ...tiny, inputShape: [32, 32, null] }, /inputShape must be/],
    ['bad upsampling', 'unet-padded', { ...tiny, upsampling: 'cubic' }, /upsampling must be 'transpose', 'bilinear' or 'nearest', got 'cubic'\./],
    ['bad activation', 'unet-padded', { ...tiny, activation: 'rleu' }, /unknown activation 'rleu'/],
    ['bad dropout', 'unet-padded', { ...tiny, dropout: 1.5 }, /dropout must be a rate in \[0, 1\)/],
  ];
  it.each(cases)('%s', (_, name, opts, message) => {
    const before = tf.memory().numTensors;
    expect(() => createModel(name, opts)).toThrow(message);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects non-object options', () => {
    expect(() => createModel('unet', 3 as unknown as object)).toThrow(/options must be an object/);
  });
});
