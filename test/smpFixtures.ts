/** Access to the segmentation_models.pytorch reference data in test/fixtures/smp (scripts/smp_reference.py). */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import * as tf from '@tensorflow/tfjs';
import { readSafetensors, type SafetensorsTensor } from '../src/io/safetensors.js';

export const SMP_FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'smp');

export interface SmpConfig {
  _model_class?: 'Unet' | 'UnetPlusPlus';
  encoder_name: string;
  encoder_depth: number;
  encoder_weights?: string | null;
  decoder_channels?: number[];
  decoder_use_norm?: string | boolean;
  decoder_interpolation?: string;
  in_channels: number;
  classes?: number;
  activation?: string | null;
}

export interface SmpCounts {
  params: number;
  bn_buffers: number;
  keys: number;
  bn_layers: number;
  used_params: number;
  used_bn_buffers: number;
  used_keys: number;
  used_mapped_keys: number;
  used_bn_layers: number;
}

export interface FixtureEntry {
  name: string;
  kind: 'encoder' | 'model';
  file: string;
  config: SmpConfig;
  input_shape: number[];
  feature_shapes?: number[][];
  output_shape?: number[];
  max_abs: number[];
  counts?: SmpCounts;
  dead_prefixes?: string[];
}

export interface CheckpointEntry {
  name: string;
  dir: string;
  config: SmpConfig;
  input_shape: number[];
  output_shape: number[];
  max_abs: number[];
  model_safetensors_bytes: number;
  model_safetensors_sha256: string;
  keys: number;
  used_keys: number;
  dead_prefixes: string[];
}

export interface Manifest {
  fixtures: FixtureEntry[];
  checkpoints: CheckpointEntry[];
  first_conv: { file: string; key: string; rule: string; tensors: Record<string, number[]> };
  preprocessing: Record<string, { input_space: string; input_range: number[]; mean: number[]; std: number[] }>;
  pretrained: Record<string, { repo_id: string; revision: string }>;
}

export interface CountsFile {
  encoders: ({ encoder: string; encoder_depth: number; in_channels: number; out_channels: number[] } & SmpCounts)[];
  models: ({ model: string; encoder: string; encoder_depth: number; in_channels: number; classes: number; decoder_channels: number[] } & SmpCounts)[];
}

/** keys.json: per encoder [key, PyTorch shape (in_channels 3), first depth using it or null]. */
export interface KeysFile {
  encoders: Record<string, { first_conv: string; keys: [string, number[], number | null][] }>;
  models: Record<string, [string, number[], boolean][]>;
}

function readJson<T>(name: string): T {
  return JSON.parse(readFileSync(join(SMP_FIXTURES, name), 'utf8')) as T;
}

export const manifest = (): Manifest => readJson<Manifest>('manifest.json');
export const countsFile = (): CountsFile => readJson<CountsFile>('counts.json');
export const keysFile = (): KeysFile => readJson<KeysFile>('keys.json');

export function fixture(name: string): FixtureEntry {
  const f = manifest().fixtures.find((e) => e.name === name);
  if (f === undefined) throw new Error(`no SMP fixture named ${name}`);
  return f;
}

/** The tensors of a safetensors file, read by the library's reader. */
export function readSafetensorsFile(path: string): Map<string, SafetensorsTensor> {
  return readSafetensors(readFileSync(path)).tensors;
}

export function readFixtureTensors(entry: { file: string }): Map<string, SafetensorsTensor> {
  return readSafetensorsFile(join(SMP_FIXTURES, entry.file));
}

/** An NCHW fixture tensor as an NHWC tf.Tensor. */
export function nhwc(t: SafetensorsTensor): tf.Tensor4D {
  if (t.dtype !== 'F32' || t.shape.length !== 4) throw new Error(`expected a 4-D F32 tensor, got ${t.dtype} [${t.shape}]`);
  return tf.tidy(() => tf.tensor4d(t.data as Float32Array, t.shape as [number, number, number, number]).transpose([0, 2, 3, 1]));
}

/**
 * The used PyTorch keys (without num_batches_tracked) of an encoder at `depth` with `inChannels`
 * input channels, with their shapes: what a TF.js encoder must map.
 */
export function usedEncoderKeys(encoder: string, depth: number, inChannels = 3): Map<string, number[]> {
  const e = keysFile().encoders[encoder];
  if (e === undefined) throw new Error(`keys.json has no encoder ${encoder}`);
  const out = new Map<string, number[]>();
  for (const [key, shape, from] of e.keys) {
    if (from === null || from > depth || key.endsWith('.num_batches_tracked')) continue;
    out.set(key, key === `${e.first_conv}.weight` ? [shape[0]!, inChannels, ...shape.slice(2)] : shape);
  }
  return out;
}

/**
 * Writes an SMP checkpoint directory (config.json + the gunzipped model.safetensors, exactly the
 * bytes SMP's save_pretrained writes) into a fresh temporary directory and returns its path.
 */
export function materializeCheckpoint(name: string): string {
  const entry = manifest().checkpoints.find((c) => c.name === name);
  if (entry === undefined) throw new Error(`no SMP checkpoint named ${name}`);
  const src = join(SMP_FIXTURES, entry.dir);
  const dir = mkdtempSync(join(tmpdir(), `smp-${name}-`));
  writeFileSync(join(dir, 'config.json'), readFileSync(join(src, 'config.json')));
  writeFileSync(join(dir, 'model.safetensors'), gunzipSync(readFileSync(join(src, 'model.safetensors.gz'))));
  return dir;
}
