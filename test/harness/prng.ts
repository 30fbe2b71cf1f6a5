/**
 * The fuzz tests' deterministic random numbers: mulberry32, a tiny, well-mixed 32-bit PRNG, so the same seed gives the
 * same cases on every machine and a failure names the seed and case that reproduce it.
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The junk tests' linear congruential generator (the C library's constants): the next 32-bit value on each call. */
export function lcg32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1103515245 + 12345) >>> 0;
    return state;
  };
}

/** `length` bytes from `next` (its low 8 bits each). */
export function junkBytes(next: () => number, length: number): Buffer {
  return Buffer.from(Array.from({ length }, () => next() & 0xff));
}
