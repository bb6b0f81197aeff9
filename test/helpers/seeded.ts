// Seeded randomness for tests that draw random choices: the seed comes from OUTPOST_TEST_SEED
// (to replay a failure) or is drawn fresh, and the test prints it. Each independent actor (a lane,
// a round, a client) gets its own stream derived from the seed, so its draws do not depend on how
// the event loop interleaved the actors.
import { randomInt } from 'node:crypto'

/** OUTPOST_TEST_SEED when set (a whole number), else a fresh one. */
export function testSeed(): number {
  const named = process.env.OUTPOST_TEST_SEED
  if (named === undefined || named === '') return randomInt(2 ** 32)
  const seed = Number(named)
  if (!Number.isSafeInteger(seed) || seed < 0 || seed >= 2 ** 32) {
    throw new Error(`OUTPOST_TEST_SEED must be a whole number below 2^32, got ${named}`)
  }
  return seed
}

export interface Rng {
  /** a float in [0, 1) */
  next(): number
  /** a whole number in [min, max] */
  int(min: number, max: number): number
}

/** mulberry32 over `seed` and the numbers naming the stream (lane, round, client ...). */
export function rng(seed: number, ...stream: number[]): Rng {
  let state = seed >>> 0
  for (const n of stream) state = Math.imul(state ^ (n + 0x9e3779b9), 0x85ebca6b) >>> 0
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32
  }
  return { next, int: (min, max) => min + Math.floor(next() * (max - min + 1)) }
}
