import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { createModel, listModels, registerModel, resolveModelName, type ModelSpec } from '../src/index.js';

const BUILT_IN = ['unet', 'unet-padded', 'unet++', 'unet3+'];

describe('registry', () => {
  it('lists the canonical names of the built-in architectures, in registration order', () => {
    expect(listModels()).toEqual(BUILT_IN);
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

describe('registerModel', () => {
  const spec = (name: string, aliases: string[]): ModelSpec => ({
    name,
    aliases,
    description: 'a padded UNet under another name',
    build: (o) => createModel('unet-padded', o),
  });

  it('a name or alias already taken (after normalisation) is an Error naming both owners, and registers nothing', () => {
    const cases: [ModelSpec, string][] = [
      [spec('UNet', []), "registerModel: name 'UNet' of 'UNet' is already taken by 'unet'"],
      [spec('my-net', ['mine', 'Nested_UNet']), "registerModel: name 'Nested_UNet' of 'my-net' is already taken by 'unet++'"],
      [spec('other-net', ['unet 3 plus']), "registerModel: name 'unet 3 plus' of 'other-net' is already taken by 'unet3+'"],
    ];
    for (const [s, message] of cases) {
      expect(() => registerModel(s)).toThrow(message);
      expect(listModels()).toEqual(BUILT_IN);
      for (const name of [s.name, ...s.aliases.slice(0, -1)]) {
        if (name !== 'UNet') expect(() => resolveModelName(name), name).toThrow(`unknown model '${name}'`);
      }
    }
    expect(resolveModelName('nested-unet')).toBe('unet++');
  });

  it('a new architecture is listed, resolved by its aliases and built by createModel; its names are then taken', () => {
    registerModel(spec('my-net', ['mynet2', 'My Net Two']));
    expect(listModels()).toEqual([...BUILT_IN, 'my-net']);
    expect(resolveModelName('MY_NET')).toBe('my-net');
    expect(resolveModelName('my.net.2')).toBe('my-net');
    const m = createModel('mynet2', { filters: [2, 4], inputShape: [8, 8, 1] });
    expect(m.outputs[0]!.shape).toEqual([null, 8, 8, 1]);
    m.dispose();
    expect(() => registerModel(spec('another', ['mynet-2']))).toThrow("registerModel: name 'mynet-2' of 'another' is already taken by 'my-net'");
    expect(listModels()).toEqual([...BUILT_IN, 'my-net']);
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
