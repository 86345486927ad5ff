import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as MetricLabel from "effect/MetricLabel"
import * as Option from "effect/Option"
import type * as Api from "../CircuitBreaker.js"
import type * as Machine from "./machine.js"

/**
 * Metric names, shared by every breaker in the process and told apart by the `circuit_breaker` label.
 *
 * @internal
 */
export const metricNames = {
  calls: "circuit_breaker_calls_total",
  transitions: "circuit_breaker_transitions_total",
  state: "circuit_breaker_state",
  duration: "circuit_breaker_call_duration_ms"
} as const

const callsMetric = Metric.counter(metricNames.calls, {
  description: "Calls through a circuit breaker, by outcome: success, failure, ignored or rejected",
  incremental: true
})

const transitionsMetric = Metric.counter(metricNames.transitions, {
  description: "State changes of a circuit breaker, by from and to state",
  incremental: true
})

const stateMetric = Metric.gauge(metricNames.state, {
  description: "Circuits of a circuit breaker in each state; for a single breaker 1 for its state and 0 otherwise"
})

const durationMetric = Metric.histogram(
  metricNames.duration,
  MetricBoundaries.exponential({ start: 1, factor: 2, count: 18 }),
  "Duration of calls through a circuit breaker, in milliseconds"
)

type CallLabel = "success" | "failure" | "ignored" | "rejected"

const labelOf: Record<Machine.Outcome, CallLabel> = { Success: "success", Failure: "failure", Ignored: "ignored" }

const stateLabels: ReadonlyArray<Machine.StateTag> = ["Closed", "Open", "HalfOpen", "Isolated", "Disabled"]

/**
 * The metrics of one breaker, tagged once at construction so that a call allocates no metric key.
 *
 * @internal
 */
export interface Telemetry {
  readonly name: string
  /** Whether metrics carry the circuit's key as a label too; off by default to keep the series bounded. */
  readonly byKey: boolean
  /**
   * The state whose circuits the gauges do not count: for a keyed breaker, the initial state, since every key it
   * never stored is in it; `undefined` for a single breaker, which counts its one circuit.
   */
  readonly uncounted: Machine.StateTag | undefined
  readonly calls: Record<CallLabel, Metric.Metric.Counter<number>>
  readonly duration: Metric.Metric.Histogram<number>
  readonly state: Record<Machine.StateTag, Metric.Metric.Gauge<number>>
}

/** @internal */
export const make = (
  name: string,
  options: { readonly keyed: boolean; readonly byKey: boolean; readonly initial: Machine.StateTag }
): Telemetry => {
  const tag = <M extends Metric.Metric<any, any, any>>(metric: M): M =>
    Metric.tagged(metric, "circuit_breaker", name) as M
  return {
    name,
    byKey: options.byKey,
    uncounted: options.keyed ? options.initial : undefined,
    calls: {
      success: tag(Metric.tagged(callsMetric, "outcome", "success")),
      failure: tag(Metric.tagged(callsMetric, "outcome", "failure")),
      ignored: tag(Metric.tagged(callsMetric, "outcome", "ignored")),
      rejected: tag(Metric.tagged(callsMetric, "outcome", "rejected"))
    },
    duration: tag(durationMetric),
    state: Object.fromEntries(
      stateLabels.map((label) => [label, tag(Metric.tagged(stateMetric, "state", label))])
    ) as Record<Machine.StateTag, Metric.Metric.Gauge<number>>
  }
}

const noTags: ReadonlyArray<never> = []

const keyTags = (telemetry: Telemetry, key: string | undefined): ReadonlyArray<MetricLabel.MetricLabel> =>
  telemetry.byKey && key !== undefined ? [MetricLabel.make("key", key)] : noTags

/**
 * Sets the state gauges of a breaker that starts in `state`; a keyed breaker starts with every gauge at 0.
 *
 * @internal
 */
export const initialState = (telemetry: Telemetry, state: Machine.StateTag | undefined): void => {
  for (const label of stateLabels) {
    telemetry.state[label].unsafeUpdate(label === state ? 1 : 0, noTags)
  }
}

/**
 * Counts a finished call by outcome and records its duration. Synchronous, so that the hot path allocates no
 * effect for metrics.
 *
 * @internal
 */
export const recordCall = (
  telemetry: Telemetry,
  key: string | undefined,
  outcome: Machine.Outcome,
  durationMillis: number
): void => {
  const tags = keyTags(telemetry, key)
  telemetry.calls[labelOf[outcome]].unsafeUpdate(1, tags)
  telemetry.duration.unsafeUpdate(durationMillis, tags)
}

const retryAfterMillis = (rejection: Api.CircuitBreakerOpen): number =>
  Duration.isFinite(rejection.retryAfter) ? Duration.toMillis(rejection.retryAfter) : -1

/**
 * Counts a rejected call and adds the rejection to the current span as an event, when there is a span.
 *
 * @internal
 */
export const recordRejection = (
  telemetry: Telemetry,
  key: string | undefined,
  rejection: Api.CircuitBreakerOpen
): Effect.Effect<void> => {
  telemetry.calls.rejected.unsafeUpdate(1, keyTags(telemetry, key))
  return Effect.flatMap(Effect.option(Effect.currentSpan), (span) =>
    Option.isNone(span)
      ? Effect.void
      : Effect.clockWith((clock) =>
          Effect.sync(() =>
            span.value.event("circuit_breaker.rejected", clock.unsafeCurrentTimeNanos(), {
              "circuit_breaker.name": telemetry.name,
              "circuit_breaker.state": rejection.state,
              "circuit_breaker.retry_after_ms": retryAfterMillis(rejection),
              ...(key === undefined ? {} : { "circuit_breaker.key": key })
            })
          )
        )
  )
}

/**
 * Counts a transition and moves one circuit from the `from` gauge to the `to` gauge, except the state a keyed breaker
 * does not count.
 *
 * @internal
 */
export const recordTransition = (
  telemetry: Telemetry,
  key: string | undefined,
  from: Machine.StateTag,
  to: Machine.StateTag
): void => {
  transitionsMetric.unsafeUpdate(1, [
    MetricLabel.make("circuit_breaker", telemetry.name),
    MetricLabel.make("from", from),
    MetricLabel.make("to", to),
    ...keyTags(telemetry, key)
  ])
  if (from !== telemetry.uncounted) telemetry.state[from].unsafeModify(-1, noTags)
  if (to !== telemetry.uncounted) telemetry.state[to].unsafeModify(1, noTags)
}

/**
 * Moves one dropped circuit out of its state's gauge, for keyed breakers that drop or evict circuits.
 *
 * @internal
 */
export const recordDrop = (telemetry: Telemetry, state: Machine.StateTag): void => {
  if (state !== telemetry.uncounted) telemetry.state[state].unsafeModify(-1, noTags)
}

/**
 * Adds the breaker's name and the state that admitted the call to the current span, when there is one.
 *
 * @internal
 */
export const annotateSpan = (
  telemetry: Telemetry,
  key: string | undefined,
  state: Machine.StateTag
): Effect.Effect<void> =>
  Effect.annotateCurrentSpan(
    key === undefined
      ? { "circuit_breaker.name": telemetry.name, "circuit_breaker.state": state }
      : { "circuit_breaker.name": telemetry.name, "circuit_breaker.state": state, "circuit_breaker.key": key }
  )
