// Runs before every test file (vitest setupFiles).
//
// tfjs-backend-cpu prints "Hi, looks like you are running TensorFlow.js in Node.js. To speed things
// up dramatically, install our node backend ..." when it stores its first tensor in Node
// (backend_cpu.js: the instance's `firstUse` flag, checked with IS_NODE). It is install advice, not
// a warning about the code under test, and every test file runs in its own process, so it came
// once per file. Initialising the default backend here (cpu: WebGL is unavailable in Node) and
// marking it as used drops exactly that message; the flags that would also silence it (IS_TEST,
// PROD) mute every tfjs warning, and IS_NODE changes platform behaviour.
import * as tf from '@tensorflow/tfjs';

await tf.ready();
const cpu = tf.engine().findBackend('cpu') as unknown as { firstUse?: boolean } | null;
if (cpu !== null && 'firstUse' in cpu) cpu.firstUse = false;
