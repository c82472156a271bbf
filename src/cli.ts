#!/usr/bin/env node
// The `segmentation-models-tfjs` executable.
import * as tf from '@tensorflow/tfjs';
import './node.js';
import { main } from './cli/main.js';

// Silence the pure-JS backend's "install tfjs-node" banner in CLI output.
tf.env().set('PROD', true);
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
