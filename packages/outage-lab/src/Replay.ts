/**
 * A whole replay: the scenario run once without a breaker and once with one, each against a fresh upstream, and
 * the two compared.
 *
 * @since 0.1.0
 */

import type * as HttpClient from "@effect/platform/HttpClient"
import type { ServeError } from "@effect/platform/HttpServerError"
import { CircuitBreaker } from "@effect-resilience/circuit-breaker"
import type * as HttpCircuitBreaker from "@effect-resilience/circuit-breaker/HttpClient"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Cli from "./Cli.js"
import * as Report from "./Report.js"
import type * as Scenario from "./Scenario.js"
import type * as Upstream from "./Upstream.js"
import * as Workers from "./Workers.js"

/**
 * Builds the caller of the breaker run from the breaker options, the scenario and the upstream's shape.
 *
 * @example
 * ```ts
 * import { Workers, type Replay } from "@effect-resilience/outage-lab"
 * import type * as HttpCircuitBreaker from "@effect-resilience/circuit-breaker/HttpClient"
 *
 * // A stricter breaker than the scenario's: the first failure opens it for a minute.
 * const strict: Replay.MakeCaller = ({ api }) => {
 *   const breaker: HttpCircuitBreaker.Options = { failureThreshold: 1, cooldown: "1 minute" }
 *   return api === "anthropic" ? Workers.anthropic({ breaker }) : Workers.generic({ breaker })
 * }
 * ```
 *
 * @since 0.2.0
 * @category models
 */
export type MakeCaller = (settings: {
  readonly scenario: Scenario.Scenario
  readonly api: Upstream.Api
  readonly breaker: HttpCircuitBreaker.Options
}) => Workers.Caller

/**
 * The options of a replay.
 *
 * @example
 * ```ts
 * import { Scenario, type Replay } from "@effect-resilience/outage-lab"
 *
 * const options: Replay.Options = { scenario: Scenario.defaultScenario, timeScale: 200, policy: "consecutive" }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly scenario: Scenario.Scenario
  /** Scenario seconds per wall second. */
  readonly timeScale: number
  /** The shape of the upstream and the client the workers use; `"generic"` when left out. */
  readonly api?: Upstream.Api | undefined
  /** The trip policy of the breaker run; {@link defaultPolicy} when left out. */
  readonly policy?: Cli.PolicyName | undefined
  /** The caller of the breaker run; the built-in caller for `api` when left out. */
  readonly makeCaller?: MakeCaller | undefined
  readonly onProgress?: ((progress: Workers.Progress) => Effect.Effect<void>) | undefined
}

/**
 * The trip policy of the breaker run when none is chosen: the failure rate that the docs recommend for partial
 * outages.
 *
 * @example
 * ```ts
 * import { Replay } from "@effect-resilience/outage-lab"
 *
 * const example = Replay.defaultPolicy
 * ```
 *
 * @since 0.2.0
 * @category policies
 */
export const defaultPolicy: Cli.PolicyName = "failure-rate"

/**
 * The trip policy that a policy name stands for, with the scenario's figures where it takes any.
 *
 * - `consecutive`: `breaker.failureThreshold` failures in a row (5 in the built-in scenario).
 * - `failure-rate`: `CircuitBreaker.partialOutagePolicy`, 50% of the calls of the last 30 s, once at least 10
 *   calls are in the window.
 *
 * @example
 * ```ts
 * import { Replay, Scenario } from "@effect-resilience/outage-lab"
 *
 * const policy = Replay.tripPolicy("consecutive", Scenario.defaultScenario) // ConsecutiveFailures, threshold 5
 * ```
 *
 * @since 0.2.0
 * @category policies
 */
export const tripPolicy = (name: Cli.PolicyName, scenario: Scenario.Scenario): CircuitBreaker.TripPolicy =>
  name === "consecutive"
    ? CircuitBreaker.consecutiveFailures(scenario.breaker.failureThreshold)
    : CircuitBreaker.partialOutagePolicy

/**
 * Describes a policy in a few words, for the report.
 *
 * @example
 * ```ts
 * import { Replay, Scenario } from "@effect-resilience/outage-lab"
 *
 * Replay.describePolicy("consecutive", Scenario.defaultScenario) // "consecutive (5 failures in a row)"
 * ```
 *
 * @since 0.2.0
 * @category policies
 */
export const describePolicy = (name: Cli.PolicyName, scenario: Scenario.Scenario): string => {
  const policy = tripPolicy(name, scenario)
  switch (policy._tag) {
    case "ConsecutiveFailures":
      return `${name} (${policy.threshold} failures in a row)`
    case "FailureRate": {
      const window =
        policy.window._tag === "Calls"
          ? `the last ${policy.window.size} calls`
          : `the calls of the last ${Duration.format(Duration.decode(policy.window.duration))}`
      return `${name} (${policy.threshold * 100}% failures among ${window}, at least ${policy.minimumCalls} calls)`
    }
    case "SlowCallRate":
      return name
  }
}

/**
 * The options of the breaker run's HTTP breaker: the chosen trip policy and the scenario's trial count and cooldown.
 * Durations are scenario time, because the workers and the breaker run on the scenario's clock.
 *
 * @example
 * ```ts
 * import { Replay, Scenario } from "@effect-resilience/outage-lab"
 *
 * const options = Replay.breakerOptions(Scenario.defaultScenario, "consecutive") // cooldown: 30 seconds
 * ```
 *
 * @since 0.1.0
 * @category policies
 */
export const breakerOptions = (
  scenario: Scenario.Scenario,
  policy: Cli.PolicyName = defaultPolicy
): HttpCircuitBreaker.Options => ({
  name: "upstream",
  policy: tripPolicy(policy, scenario),
  successThreshold: scenario.breaker.successThreshold,
  cooldown: Duration.seconds(scenario.breaker.cooldownSeconds)
})

/**
 * The built-in caller of the breaker run: the HTTP module's breaker around each attempt, through the client that
 * `api` calls for.
 *
 * @example
 * ```ts
 * import { Replay, Scenario } from "@effect-resilience/outage-lab"
 *
 * const caller = Replay.breakerCaller({
 *   scenario: Scenario.defaultScenario,
 *   api: "anthropic",
 *   breaker: Replay.breakerOptions(Scenario.defaultScenario)
 * })
 * ```
 *
 * @since 0.2.0
 * @category callers
 */
export const breakerCaller: MakeCaller = ({ api, breaker }) =>
  api === "anthropic" ? Workers.anthropic({ breaker }) : Workers.generic({ breaker })

/**
 * The label of the run without a breaker.
 *
 * @example
 * ```ts
 * import { Replay } from "@effect-resilience/outage-lab"
 *
 * const example = Replay.baselineLabel
 * ```
 *
 * @since 0.1.0
 * @category constants
 */
export const baselineLabel = "without breaker"

/**
 * The label of the run with a breaker.
 *
 * @example
 * ```ts
 * import { Replay } from "@effect-resilience/outage-lab"
 *
 * const example = Replay.breakerLabel
 * ```
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
    const api = options.api ?? "generic"
    const policy = options.policy ?? defaultPolicy
    const makeCaller = options.makeCaller ?? breakerCaller

    const baseline = yield* Workers.run({
      label: baselineLabel,
      scenario,
      timeScale,
      api,
      caller: api === "anthropic" ? Workers.anthropic() : Workers.generic(),
      onProgress
    })
    const breaker = yield* Workers.run({
      label: breakerLabel,
      scenario,
      timeScale,
      api,
      caller: makeCaller({ scenario, api, breaker: breakerOptions(scenario, policy) }),
      onProgress
    })

    return Report.compare({
      baseline: Report.figures(baseline, scenario),
      breaker: Report.figures(breaker, scenario),
      scenario,
      timeScale,
      api,
      policy: describePolicy(policy, scenario)
    })
  })
