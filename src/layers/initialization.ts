/**
 * Building a model whose weights are all overwritten right after (an imported checkpoint): inside
 * {@link withZeroInitialization} every kernel starts as zeros instead of a random draw. Zeros cost
 * no time and, until written, no resident memory (fresh zero-filled buffers stay untouched pages),
 * so an import holds little more than the loaded weights. Builders pass their kernel initialisers
 * through {@link initialKernel}; biases and BatchNorm parameters keep their own (constant)
 * initialisers.
 */

let zeroDepth = 0;

/** Runs `build` (synchronous) with every kernel initialiser replaced by zeros. */
export function withZeroInitialization<T>(build: () => T): T {
  zeroDepth++;
  try {
    return build();
  } finally {
    zeroDepth--;
  }
}

/** `initializer`, or `'zeros'` inside {@link withZeroInitialization}. */
export function initialKernel<T>(initializer: T): T | 'zeros' {
  return zeroDepth > 0 ? 'zeros' : initializer;
}
