import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { createModel, formatCount, paramCounts, summarize } from '../src/index.js';

describe('summary', () => {
  it('formats counts with thousands separators', () => {
    expect(formatCount(31030658)).toBe('31,030,658');
    expect(formatCount(999)).toBe('999');
    expect(formatCount(1000)).toBe('1,000');
  });

  it('paramCounts follows the Keras convention and honours frozen layers', () => {
    const m = createModel('unet-padded', { filters: [2, 4], inputShape: [8, 8, 1] });
    const c = paramCounts(m);
    // BN channels 2+2+4+4+2+2 = 16: moving stats are non-trainable.
    expect(c.nonTrainable).toBe(2 * 16);
    expect(c.total).toBe(m.countParams());
    m.getLayer('enc0_conv1').trainable = false; // 3*3*1*2 + 2 = 20 weights
    expect(paramCounts(m)).toEqual({ total: c.total, trainable: c.trainable - 20, nonTrainable: c.nonTrainable + 20 });
    m.dispose();
  });

  it('summarize lists every layer with type, output shape and params, then the totals', () => {
    const m = createModel('unet', { filters: [4, 8, 16], inputShape: [92, 92, 1] });
    const s = summarize(m);
    expect(s.rows).toHaveLength(m.layers.length);
    expect(s.rows[0]).toEqual({ name: 'input', type: 'InputLayer', outputShape: '[null,92,92,1]', params: 0 });
    const head = s.rows.find((r) => r.name === 'head')!;
    expect(head).toEqual({ name: 'head', type: 'Conv2D', outputShape: '[null,52,52,2]', params: 10 });
    expect(s.rows.reduce((a, r) => a + r.params, 0)).toBe(s.total);
    expect(s.text).toMatch(/crop1\s+SMTF>CenterCrop2D\s+\[null,32,32,8\]\s+0/);
    expect(s.text).toContain(`Total params:         ${formatCount(s.total)}`);
    expect(s.text).toContain('Non-trainable params: 160');
    m.dispose();
    expect(tf.memory().numTensors).toBe(0);
  });
});
