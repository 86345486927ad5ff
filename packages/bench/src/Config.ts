/**
 * The sizes a bench run uses: how many calls each sample times, how many samples each row takes, how many keys the
 * keyed and memory rows hold, and how long the idle CPU windows last.
 */

/** The sampling of one timed row. */
export interface Timing {
  /** Samples per row; the row reports the median sample. */
  readonly samples: number
  /** Untimed samples run before the timed ones, so that V8 has compiled the hot code. */
  readonly warmupSamples: number
  /** Calls made inside one sample, one after another in one fiber (or one async function). */
  readonly callsPerSample: number
  /** Rounds the samples are split into; each round runs every row of a group in turn. */
  readonly rounds: number
}

/** The sampling of the Redis rows, which cost a network round trip per call and so get fewer calls than the others. */
export interface RedisSizes {
  readonly timing: Timing
  /** Fibers of the concurrent rows; each sample splits its calls evenly between them. */
  readonly fibers: number
}

export interface Config {
  readonly name: "full" | "quick" | "smoke"
  readonly timing: Timing
  readonly redis: RedisSizes
  /** The samples of the HalfOpen rows, each made of `halfOpenCallers` concurrent calls. */
  readonly halfOpenSamples: number
  readonly halfOpenCallers: number
  /** Key counts of the keyed breaker's per-call rows; every key has a stored circuit. */
  readonly keyedCounts: ReadonlyArray<number>
  /** Key counts of the heap rows of the Effect breakers (this one and Effect 4's). */
  readonly memoryCounts: ReadonlyArray<number>
  /** Breakers that the cockatiel and opossum heap rows hold, one per key. */
  readonly libraryBreakerCount: number
  /** Length of each idle CPU window, in milliseconds. */
  readonly idleMillis: number
  /** Wait before each idle window, in milliseconds, so that work left over from the forced collections ends first. */
  readonly settleMillis: number
}

/** The configuration of `pnpm bench`: 1,000,000 calls per timed row, and up to 1,000,000 keys. */
export const full: Config = {
  name: "full",
  timing: { samples: 100, warmupSamples: 10, callsPerSample: 10_000, rounds: 10 },
  redis: { timing: { samples: 20, warmupSamples: 2, callsPerSample: 2_000, rounds: 4 }, fibers: 8 },
  halfOpenSamples: 100,
  halfOpenCallers: 1_000,
  keyedCounts: [1, 1_000, 100_000],
  memoryCounts: [100_000, 1_000_000],
  libraryBreakerCount: 100_000,
  idleMillis: 3_000,
  settleMillis: 500
}

/** The configuration of `pnpm bench --quick`: 40,000 calls per timed row, and up to 100,000 keys. */
export const quick: Config = {
  name: "quick",
  timing: { samples: 20, warmupSamples: 5, callsPerSample: 2_000, rounds: 4 },
  redis: { timing: { samples: 10, warmupSamples: 1, callsPerSample: 500, rounds: 2 }, fibers: 8 },
  halfOpenSamples: 20,
  halfOpenCallers: 1_000,
  keyedCounts: [1, 1_000, 10_000],
  memoryCounts: [10_000, 100_000],
  libraryBreakerCount: 10_000,
  idleMillis: 1_000,
  settleMillis: 200
}

/**
 * The smallest configuration, for the test that keeps the bench running: a handful of calls per row, a few thousand
 * keys. Its figures only show that every row runs and produces a number.
 */
export const smoke: Config = {
  name: "smoke",
  timing: { samples: 3, warmupSamples: 1, callsPerSample: 50, rounds: 1 },
  redis: { timing: { samples: 2, warmupSamples: 1, callsPerSample: 16, rounds: 1 }, fibers: 4 },
  halfOpenSamples: 3,
  halfOpenCallers: 20,
  keyedCounts: [1, 10],
  // Repeated runs gave heap figures that differed by up to about 400 KB per holder, so the
  // holders must be large enough to keep each figure well above that.
  memoryCounts: [10_000, 20_000],
  libraryBreakerCount: 10_000,
  idleMillis: 100,
  settleMillis: 0
}

/** Formats a count with thousands separators, as the row names show it. */
export const formatCount = (count: number): string => count.toLocaleString("en-US")

/** Describes the sizes of a configuration in one paragraph, printed above the table. */
export const describe = (config: Config): string => {
  const { samples, warmupSamples, callsPerSample, rounds } = config.timing
  return [
    `Timed rows: median of ${samples} samples of ${formatCount(callsPerSample)} calls each ` +
      `(${formatCount(samples * callsPerSample)} calls per row, after ${warmupSamples} warm-up samples), ` +
      `taken in ${rounds} rounds that each run every row of a section in turn.`,
    `HalfOpen rows: median of ${config.halfOpenSamples} samples of ${formatCount(config.halfOpenCallers)} ` +
      "concurrent calls.",
    `Keyed rows: ${config.keyedCounts.map(formatCount).join(", ")} keys. Heap rows: ` +
      `${config.memoryCounts.map(formatCount).join(" and ")} keys for the Effect breakers, ` +
      `${formatCount(config.libraryBreakerCount)} breakers for cockatiel and opossum.`,
    `Idle CPU: ${config.idleMillis / 1000} s windows.`,
    `Redis rows: median of ${config.redis.timing.samples} samples of ` +
      `${formatCount(config.redis.timing.callsPerSample)} calls each, sequential or split between ` +
      `${config.redis.fibers} fibers, after ${config.redis.timing.warmupSamples} warm-up ` +
      `${config.redis.timing.warmupSamples === 1 ? "sample" : "samples"}; round trips ` +
      `counted over ${formatCount(config.redis.timing.callsPerSample)} more calls of each kind.`
  ].join("\n")
}
