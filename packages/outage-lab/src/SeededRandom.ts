/**
 * A small seeded pseudo-random generator, so that a replay makes the same choices (which request fails, how long a
 * response takes) every time it runs with the same seed.
 *
 * The generator is SplitMix32: a 32-bit counter advanced by a fixed odd increment, passed through an integer
 * finalizer. It is fast, has a period of 2^32 and is plenty for picking failures; it is not cryptographic.
 *
 * @since 0.1.0
 */

/**
 * A stateful generator. Each call advances the state, so two generators made from one seed return the same sequence.
 *
 * @example
 * ```ts
 * import { SeededRandom } from "@effect-resilience/outage-lab"
 *
 * const random = SeededRandom.make(42)
 * const fails = random.nextFloat() < 0.9
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface SeededRandom {
  /** The seed the generator started from. */
  readonly seed: number
  /** The next value, uniform in `[0, 1)`. */
  readonly nextFloat: () => number
  /** The next value, uniform over the integers from `min` to `max`, both included. */
  readonly nextIntBetween: (min: number, max: number) => number
}

// 0x9e3779b9 is the 32-bit golden-ratio increment; being odd, it visits every 32-bit state before repeating.
const increment = 0x9e3779b9
const twoToThe32 = 2 ** 32

const mix = (state: number): number => {
  let z = state
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
  return (z ^ (z >>> 16)) >>> 0
}

/**
 * Creates a generator from a seed. Only the low 32 bits of the integer part of `seed` are used.
 *
 * @example
 * ```ts
 * import { SeededRandom } from "@effect-resilience/outage-lab"
 *
 * const first = SeededRandom.make(7)
 * const second = SeededRandom.make(7)
 * console.log(first.nextFloat() === second.nextFloat()) // true
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (seed: number): SeededRandom => {
  let state = Math.trunc(seed) >>> 0

  const nextUint32 = (): number => {
    state = (state + increment) >>> 0
    return mix(state)
  }

  return {
    seed,
    nextFloat: () => nextUint32() / twoToThe32,
    nextIntBetween: (min, max) => min + Math.floor((nextUint32() / twoToThe32) * (max - min + 1))
  }
}
