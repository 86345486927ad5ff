/**
 * Runs the suites of a bench run in order and collects their sections and the target verdicts.
 */
import type { Config } from "./Config.js"
import type { CollectGarbage } from "./Measure.js"
import type { Section } from "./Report.js"
import * as Closed from "./suites/closed.js"
import * as Keyed from "./suites/keyed.js"
import * as Memory from "./suites/memory.js"
import * as Parts from "./suites/parts.js"
import * as Redis from "./suites/redis.js"
import * as Rejection from "./suites/rejection.js"
import * as Targets from "./Targets.js"

export const suiteNames = ["closed", "rejection", "keyed", "parts", "memory", "redis"] as const

export type SuiteName = (typeof suiteNames)[number]

export interface Options {
  readonly config: Config
  readonly gc: CollectGarbage
  /** The suites to run, in the order of {@link suiteNames}; every suite when left out. */
  readonly only?: ReadonlyArray<SuiteName> | undefined
  /** Receives a line before each suite and each long step; the command prints it on stderr. */
  readonly progress?: ((message: string) => void) | undefined
}

export interface Result {
  readonly sections: ReadonlyArray<Section>
  readonly targets: ReadonlyArray<Targets.TargetResult>
  readonly elapsedMillis: number
}

export const runBench = async (options: Options): Promise<Result> => {
  const { config, gc } = options
  const progress = options.progress ?? (() => undefined)
  const selected = new Set(options.only ?? suiteNames)
  const started = performance.now()
  const sections: Array<Section> = []

  const suites: Record<SuiteName, () => Promise<ReadonlyArray<Section>>> = {
    closed: async () => [await Closed.run(config)],
    rejection: async () => [await Rejection.run(config)],
    keyed: async () => [await Keyed.run(config)],
    parts: async () => [await Parts.run(config)],
    memory: () => Memory.run({ config, gc, progress: (message) => progress(`memory: ${message}`) }),
    redis: async () => [await Redis.run(config)]
  }

  for (const name of suiteNames) {
    if (!selected.has(name)) continue
    progress(`${name}: running`)
    sections.push(...(await suites[name]()))
  }

  return {
    sections,
    targets: Targets.evaluate(sections, Math.max(...config.memoryCounts)),
    elapsedMillis: performance.now() - started
  }
}
