/**
 * A whole replay: the scenario run once without a breaker and once with one, each against a fresh upstream, and
 * the two compared.
 *
 * @since 0.1.0
 */

import type * as HttpClient from "@effect/platform/HttpClient"
import type { ServeError } from "@effect/platform/HttpServerError"
import type { CircuitBreaker } from "@effect-resilience/circuit-breaker"
import * as Effect from "effect/Effect"
import * as Report from "./Report.js"
import type * as Scenario from "./Scenario.js"
import * as Upstream from "./Upstream.js"
import * as Workers from "./Workers.js"

/**
 * Builds the guard of the breaker run from the scenario and the time scale in force.
 *
 * @example
 * ```ts
 * import { Workers, type Replay } from "@effect-resilience/outage-lab"
 *
 * const strictBreaker: Replay.MakeGuard = ({ timeScale }) =>
 *   Workers.circuitBreaker({ failureThreshold: 1, cooldown: `${60_000 / timeScale} millis` })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type MakeGuard = (settings: {
  readonly scenario: Scenario.Scenario
  readonly timeScale: number
}) => Workers.Guard

/**
 * The options of a replay.
 *
 * @example
 * ```ts
 * import { Scenario, type Replay } from "@effect-resilience/outage-lab"
 *
 * const options: Replay.Options = { scenario: Scenario.defaultScenario, timeScale: 200 }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly scenario: Scenario.Scenario
  /** Scenario seconds per wall second. */
  readonly timeScale: number
  /** The guard of the second run; {@link breakerGuard} when left out. */
  readonly makeGuard?: MakeGuard | undefined
  readonly onProgress?: ((progress: Workers.Progress) => Effect.Effect<void>) | undefined
}

/**
 * The breaker options that the scenario describes, with the cooldown converted to wall time, because the breaker
 * reads the real `Clock`.
 *
 * @example
 * ```ts
 * import { Replay, Scenario } from "@effect-resilience/outage-lab"
 *
 * const options = Replay.breakerOptions(Scenario.defaultScenario, 100) // cooldown: 300 millis
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const breakerOptions = (scenario: Scenario.Scenario, timeScale: number): CircuitBreaker.Options => ({
  name: "upstream",
  failureThreshold: scenario.breaker.failureThreshold,
  successThreshold: scenario.breaker.successThreshold,
  cooldown: Upstream.toWallDuration(scenario.breaker.cooldownSeconds, timeScale)
})

/**
 * The default guard of the breaker run: one circuit breaker per run configured by {@link breakerOptions}.
 *
 * @example
 * ```ts
 * import { Replay, Scenario } from "@effect-resilience/outage-lab"
 *
 * const guard = Replay.breakerGuard({ scenario: Scenario.defaultScenario, timeScale: 100 })
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const breakerGuard: MakeGuard = ({ scenario, timeScale }) =>
  Workers.circuitBreaker(breakerOptions(scenario, timeScale))

/**
 * The label of the run without a breaker.
 *
 * @since 0.1.0
 * @category constants
 */
export const baselineLabel = "without breaker"

/**
 * The label of the run with a breaker.
 *
 * @since 0.1.0
 * @category constants
 */
export const breakerLabel = "with breaker"

/**
 * Computes how many wall seconds a replay of `scenario` lasts at `timeScale`. The figure covers both runs, but not the
 * few seconds Node needs to start.
 *
 * @example
 * ```ts
 * import { Replay, Scenario } from "@effect-resilience/outage-lab"
 *
 * Replay.wallSeconds(Scenario.defaultScenario, 110) // about 46
 * ```
 *
 * @since 0.1.0
 * @category running
 */
export const wallSeconds = (scenario: Scenario.Scenario, timeScale: number): number => {
  const { healthySeconds, degradedSeconds, recoveredSeconds } = scenario.phases
  return (2 * (healthySeconds + degradedSeconds + recoveredSeconds)) / timeScale
}

/**
 * Runs the baseline, then the breaker run, and compares them. The two runs follow each other, so the replay takes
 * twice the scenario's length divided by `timeScale`.
 *
 * @example
 * ```ts
 * import { Replay, Report, Scenario } from "@effect-resilience/outage-lab"
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Console, Effect } from "effect"
 *
 * const program = Replay.run({ scenario: Scenario.defaultScenario, timeScale: 100 }).pipe(
 *   Effect.flatMap((comparison) => Console.log(Report.renderTable(comparison))),
 *   Effect.provide(NodeHttpClient.layerUndici)
 * )
 * ```
 *
 * @since 0.1.0
 * @category running
 */
export const run = (options: Options): Effect.Effect<Report.Comparison, ServeError, HttpClient.HttpClient> =>
  Effect.gen(function* () {
    const { scenario, timeScale, onProgress } = options
    const makeGuard = options.makeGuard ?? breakerGuard

    const baseline = yield* Workers.run({
      label: baselineLabel,
      scenario,
      timeScale,
      guard: Workers.unguarded,
      onProgress
    })
    const breaker = yield* Workers.run({
      label: breakerLabel,
      scenario,
      timeScale,
      guard: makeGuard({ scenario, timeScale }),
      onProgress
    })

    return Report.compare({
      baseline: Report.figures(baseline, scenario),
      breaker: Report.figures(breaker, scenario),
      scenario,
      timeScale
    })
  })
