/**
 * The figures of a replay, the comparison of the two runs, and their rendering as a table or as JSON.
 *
 * **Recovery time.** Scenario time after the upstream recovers is cut into consecutive windows of
 * `recoveryWindowSeconds`, the first starting at the recovery. A last window that the run ends inside is left out.
 * A window's success rate is the share of the workers' calls that ended in the window with a 2xx, out of all calls
 * that ended in it: successes, 5xx, 429s, transport errors and calls rejected by the breaker alike. A window is
 * healthy when its success rate is above 95%; a window in which no call ended is not healthy. The recovery time is
 * the start of the first window from which every later window is healthy, measured from the recovery. When the last
 * window is not healthy, the run did not recover and the recovery time is `null`.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import type * as Scenario from "./Scenario.js"
import type * as Upstream from "./Upstream.js"
import type * as Workers from "./Workers.js"

/**
 * The success rate a window must exceed to count as healthy.
 *
 * @example
 * ```ts
 * import { Report } from "@effect-resilience/outage-lab"
 *
 * const percent = Report.healthySuccessRate * 100 // 95
 * ```
 *
 * @since 0.1.0
 * @category constants
 */
export const healthySuccessRate = 0.95

/**
 * The share of the baseline's wasted calls that the breaker run may waste at most.
 *
 * @example
 * ```ts
 * import { Report } from "@effect-resilience/outage-lab"
 *
 * const allowed = (baselineWasted: number) => baselineWasted * Report.maxWastedRatio
 * ```
 *
 * @since 0.1.0
 * @category constants
 */
export const maxWastedRatio = 0.2

/**
 * The figures of one run.
 *
 * @example
 * ```ts
 * import type { Report } from "@effect-resilience/outage-lab"
 *
 * const recovered = (figures: Report.Figures) => figures.recoverySeconds !== null
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Figures {
  /** Requests the upstream received over the whole run. */
  readonly requestsReceived: number
  /** Requests the upstream received while degraded and failed with an error status: the calls wasted on the outage. */
  readonly wastedCalls: number
  /** Calls the breaker rejected without sending them. */
  readonly rejectedLocally: number
  /** Requests that got a 429 response after the upstream recovered. */
  readonly rateLimitedAfterRecovery: number
  readonly tasksArrived: number
  readonly tasksCompleted: number
  /** Tasks dropped because their deadline passed before they completed. */
  readonly tasksAbandoned: number
  /** Tasks arrived but neither completed nor abandoned when the upstream recovered. */
  readonly backlogAtRecovery: number
  /** Tasks arrived but neither completed nor abandoned when the run ended. */
  readonly backlogAtEnd: number
  /** Scenario seconds from the upstream's recovery until the success rate stays above 95%; `null` if it never does. */
  readonly recoverySeconds: number | null
}

/**
 * Both runs side by side, with the targets the breaker run is held to.
 *
 * @example
 * ```ts
 * import type { Report } from "@effect-resilience/outage-lab"
 *
 * const passed = (comparison: Report.Comparison) => comparison.wastedTargetMet && comparison.recoveryTargetMet
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Comparison {
  readonly scenario: string
  readonly timeScale: number
  /** The upstream's shape and the client the workers used. */
  readonly api: Upstream.Api
  /** The breaker run's trip policy, in words. */
  readonly policy: string
  readonly recoveryWindowSeconds: number
  readonly baseline: Figures
  readonly breaker: Figures
  /** The breaker run's wasted calls divided by the baseline's; `null` when the baseline wasted none. */
  readonly wastedRatio: number | null
  /** Whether the breaker run wasted at most a fifth of the baseline's wasted calls. */
  readonly wastedTargetMet: boolean
  /** Whether the breaker run recovered, and no later than the baseline. */
  readonly recoveryTargetMet: boolean
}

/**
 * Computes the recovery time, in scenario seconds, from the outcomes of a run. See the module documentation for the
 * definition.
 *
 * @example
 * ```ts
 * import { Report } from "@effect-resilience/outage-lab"
 *
 * const outcomes = [
 *   { at: 105, kind: "RateLimited" as const },
 *   { at: 115, kind: "Success" as const },
 *   { at: 125, kind: "Success" as const }
 * ]
 * Report.recoverySeconds(outcomes, { recoveredAt: 100, endAt: 130, windowSeconds: 10 }) // 10
 * ```
 *
 * @since 0.1.0
 * @category figures
 */
export const recoverySeconds = (
  outcomes: ReadonlyArray<Workers.Outcome>,
  options: { readonly recoveredAt: number; readonly endAt: number; readonly windowSeconds: number }
): number | null => {
  const { recoveredAt, endAt, windowSeconds } = options
  const windowCount = Math.floor((endAt - recoveredAt) / windowSeconds)
  if (windowCount < 1) {
    return null
  }

  const successes = new Array<number>(windowCount).fill(0)
  const totals = new Array<number>(windowCount).fill(0)
  for (const outcome of outcomes) {
    const index = Math.floor((outcome.at - recoveredAt) / windowSeconds)
    if (index < 0 || index >= windowCount) {
      continue
    }
    totals[index]!++
    if (outcome.kind === "Success") {
      successes[index]!++
    }
  }

  let firstHealthy = windowCount
  for (let index = windowCount - 1; index >= 0; index--) {
    const total = totals[index]!
    if (total === 0 || successes[index]! / total <= healthySuccessRate) {
      break
    }
    firstHealthy = index
  }
  return firstHealthy === windowCount ? null : firstHealthy * windowSeconds
}

/**
 * Computes the figures of one run.
 *
 * @example
 * ```ts
 * import { Report, type Scenario, type Workers } from "@effect-resilience/outage-lab"
 *
 * const wasted = (result: Workers.RunResult, scenario: Scenario.Scenario) =>
 *   Report.figures(result, scenario).wastedCalls
 * ```
 *
 * @since 0.1.0
 * @category figures
 */
export const figures = (result: Workers.RunResult, scenario: Scenario.Scenario): Figures => {
  const { phases } = scenario
  const recoveredAt = phases.healthySeconds + phases.degradedSeconds
  const degraded = result.counters.degraded

  return {
    requestsReceived: result.counters.received,
    wastedCalls: degraded.received - degraded.succeeded,
    rejectedLocally: result.rejectedLocally,
    rateLimitedAfterRecovery: result.counters.recovered.rateLimited,
    tasksArrived: result.tasksArrived,
    tasksCompleted: result.tasksCompleted,
    tasksAbandoned: result.tasksAbandoned,
    backlogAtRecovery: result.backlogAtRecovery,
    backlogAtEnd: result.backlogAtEnd,
    recoverySeconds: recoverySeconds(result.outcomes, {
      recoveredAt,
      endAt: recoveredAt + phases.recoveredSeconds,
      windowSeconds: scenario.recoveryWindowSeconds
    })
  }
}

/**
 * Compares a run without a breaker to a run with one, on the same scenario.
 *
 * @example
 * ```ts
 * import { Report, type Scenario } from "@effect-resilience/outage-lab"
 *
 * const verdict = (baseline: Report.Figures, breaker: Report.Figures, scenario: Scenario.Scenario) =>
 *   Report.compare({
 *     baseline,
 *     breaker,
 *     scenario,
 *     timeScale: scenario.timeScale,
 *     api: "generic",
 *     policy: "failure-rate"
 *   }).wastedTargetMet
 * ```
 *
 * @since 0.1.0
 * @category figures
 */
export const compare = (options: {
  readonly baseline: Figures
  readonly breaker: Figures
  readonly scenario: Scenario.Scenario
  readonly timeScale: number
  readonly api: Upstream.Api
  readonly policy: string
}): Comparison => {
  const { baseline, breaker } = options
  const wastedRatio = baseline.wastedCalls === 0 ? null : breaker.wastedCalls / baseline.wastedCalls
  const recoveryTargetMet =
    breaker.recoverySeconds !== null &&
    (baseline.recoverySeconds === null || breaker.recoverySeconds <= baseline.recoverySeconds)

  return {
    scenario: options.scenario.name,
    timeScale: options.timeScale,
    api: options.api,
    policy: options.policy,
    recoveryWindowSeconds: options.scenario.recoveryWindowSeconds,
    baseline,
    breaker,
    wastedRatio,
    wastedTargetMet: breaker.wastedCalls <= baseline.wastedCalls * maxWastedRatio,
    recoveryTargetMet
  }
}

const formatCount = (value: number): string => value.toLocaleString("en-US")

const formatSeconds = (seconds: number): string =>
  seconds === 0 ? "0s" : Duration.format(Duration.seconds(Math.round(seconds)))

const formatRecovery = (seconds: number | null): string => (seconds === null ? "not recovered" : formatSeconds(seconds))

const formatPercent = (ratio: number): string => `${(ratio * 100).toFixed(1)}%`

/**
 * Renders the comparison as a plain-text table with the verdict on the targets below it.
 *
 * @example
 * ```ts
 * import { Report } from "@effect-resilience/outage-lab"
 * import { Console } from "effect"
 *
 * const print = (comparison: Report.Comparison) => Console.log(Report.renderTable(comparison))
 * ```
 *
 * @since 0.1.0
 * @category rendering
 */
export const renderTable = (comparison: Comparison): string => {
  const { baseline, breaker } = comparison
  const rows: ReadonlyArray<readonly [string, string, string]> = [
    ["", "without breaker", "with breaker"],
    ["requests the upstream received", formatCount(baseline.requestsReceived), formatCount(breaker.requestsReceived)],
    [
      "failed requests while degraded (wasted calls)",
      formatCount(baseline.wastedCalls),
      formatCount(breaker.wastedCalls)
    ],
    ["requests rejected locally", formatCount(baseline.rejectedLocally), formatCount(breaker.rejectedLocally)],
    [
      "429s after recovery",
      formatCount(baseline.rateLimitedAfterRecovery),
      formatCount(breaker.rateLimitedAfterRecovery)
    ],
    ["tasks completed", formatCount(baseline.tasksCompleted), formatCount(breaker.tasksCompleted)],
    ["tasks abandoned", formatCount(baseline.tasksAbandoned), formatCount(breaker.tasksAbandoned)],
    ["tasks waiting at recovery", formatCount(baseline.backlogAtRecovery), formatCount(breaker.backlogAtRecovery)],
    ["tasks waiting at end", formatCount(baseline.backlogAtEnd), formatCount(breaker.backlogAtEnd)],
    ["recovery time", formatRecovery(baseline.recoverySeconds), formatRecovery(breaker.recoverySeconds)]
  ]

  const widths = [0, 1, 2].map((column) => Math.max(...rows.map((row) => row[column]!.length)))
  const lines = rows.map(([label, left, right]) =>
    `${label.padEnd(widths[0]!)}  ${left.padStart(widths[1]!)}  ${right.padStart(widths[2]!)}`.trimEnd()
  )

  const wasted =
    comparison.wastedRatio === null
      ? "the baseline wasted no calls"
      : `${formatPercent(comparison.wastedRatio)} of the baseline's`
  const recovery = `${formatRecovery(breaker.recoverySeconds)} against ${formatRecovery(baseline.recoverySeconds)}`

  return [
    `Scenario ${comparison.scenario}, time scale ${comparison.timeScale} (scenario seconds per wall second), ${comparison.api} upstream`,
    `Breaker policy: ${comparison.policy}`,
    "",
    ...lines,
    "",
    `Recovery time: from the upstream's recovery to the start of the first ${formatSeconds(comparison.recoveryWindowSeconds)} window`,
    `after which every window's success rate stays above ${healthySuccessRate * 100}% (local rejections count as failures).`,
    `Wasted calls with the breaker: ${wasted} (target at most ${maxWastedRatio * 100}%): ${comparison.wastedTargetMet ? "met" : "not met"}.`,
    `Recovery with the breaker: ${recovery} (target no slower): ${comparison.recoveryTargetMet ? "met" : "not met"}.`
  ].join("\n")
}

/**
 * The comparison as a JSON-ready value: the same figures as the table, durations in scenario seconds.
 *
 * @example
 * ```ts
 * import { Report } from "@effect-resilience/outage-lab"
 * import { Console } from "effect"
 *
 * const print = (comparison: Report.Comparison) => Console.log(JSON.stringify(Report.toJson(comparison), null, 2))
 * ```
 *
 * @since 0.1.0
 * @category rendering
 */
export const toJson = (comparison: Comparison) => ({
  scenario: comparison.scenario,
  timeScale: comparison.timeScale,
  upstream: comparison.api,
  policy: comparison.policy,
  recoveryWindowSeconds: comparison.recoveryWindowSeconds,
  healthySuccessRate,
  withoutBreaker: comparison.baseline,
  withBreaker: comparison.breaker,
  targets: {
    maxWastedRatio,
    wastedRatio: comparison.wastedRatio,
    wastedTargetMet: comparison.wastedTargetMet,
    recoveryTargetMet: comparison.recoveryTargetMet
  }
})
