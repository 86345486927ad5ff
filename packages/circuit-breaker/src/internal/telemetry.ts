import type * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as MetricLabel from "effect/MetricLabel"
import * as Tracer from "effect/Tracer"
import type * as Api from "../CircuitBreaker.js"
import type * as Machine from "./machine.js"

/**
 * Metric names, shared by every breaker in the process and distinguished by the `circuit_breaker` label.
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
 * The metric labels of one breaker, built once at construction. Effect caches a metric's hook by the identity of the
 * label array passed to `unsafeUpdate`, so reusing these arrays makes an update a cache hit: tagging a metric per call
 * would build a new metric key on every call.
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
  readonly nameLabel: MetricLabel.MetricLabel
  readonly nameLabels: ReadonlyArray<MetricLabel.MetricLabel>
  readonly callLabels: Record<CallLabel, ReadonlyArray<MetricLabel.MetricLabel>>
  readonly stateLabels: Record<Machine.StateTag, ReadonlyArray<MetricLabel.MetricLabel>>
  readonly nameAttributes: Record<Machine.StateTag, Readonly<Record<string, string>>>
}

const byState = <A>(f: (state: Machine.StateTag) => A): Record<Machine.StateTag, A> => ({
  Closed: f("Closed"),
  Open: f("Open"),
  HalfOpen: f("HalfOpen"),
  Isolated: f("Isolated"),
  Disabled: f("Disabled")
})

/** @internal */
export const make = (
  name: string,
  options: { readonly keyed: boolean; readonly byKey: boolean; readonly initial: Machine.StateTag }
): Telemetry => {
  const nameLabel = MetricLabel.make("circuit_breaker", name)
  const callLabel = (outcome: CallLabel) => [nameLabel, MetricLabel.make("outcome", outcome)]
  return {
    name,
    byKey: options.byKey,
    uncounted: options.keyed ? options.initial : undefined,
    nameLabel,
    nameLabels: [nameLabel],
    callLabels: {
      success: callLabel("success"),
      failure: callLabel("failure"),
      ignored: callLabel("ignored"),
      rejected: callLabel("rejected")
    },
    stateLabels: byState((label) => [nameLabel, MetricLabel.make("state", label)]),
    nameAttributes: byState((label) => ({ "circuit_breaker.name": name, "circuit_breaker.state": label }))
  }
}

const withKey = (
  telemetry: Telemetry,
  labels: ReadonlyArray<MetricLabel.MetricLabel>,
  key: string | undefined
): ReadonlyArray<MetricLabel.MetricLabel> =>
  telemetry.byKey && key !== undefined ? [...labels, MetricLabel.make("key", key)] : labels

/**
 * Sets the state gauges of a breaker that starts in `state`; a keyed breaker starts with every gauge at 0.
 *
 * @internal
 */
export const initialState = (telemetry: Telemetry, state: Machine.StateTag | undefined): void => {
  for (const label of stateLabels) {
    stateMetric.unsafeUpdate(label === state ? 1 : 0, telemetry.stateLabels[label])
  }
}

/**
 * Counts a finished call by outcome. Synchronous, so that the hot path allocates no effect for metrics.
 *
 * @internal
 */
export const recordCall = (telemetry: Telemetry, key: string | undefined, outcome: Machine.Outcome): void => {
  callsMetric.unsafeUpdate(1, withKey(telemetry, telemetry.callLabels[labelOf[outcome]], key))
}

/**
 * Records how long a finished call ran, in milliseconds.
 *
 * @internal
 */
export const recordDuration = (telemetry: Telemetry, key: string | undefined, durationMillis: number): void => {
  durationMetric.unsafeUpdate(durationMillis, withKey(telemetry, telemetry.nameLabels, key))
}

const retryAfterMillis = (rejection: Api.CircuitBreakerOpen): number =>
  Duration.isFinite(rejection.retryAfter) ? Duration.toMillis(rejection.retryAfter) : -1

/**
 * Counts a rejected call and adds the rejection to the running fiber's current span as an event, when there is one.
 * Called while that fiber runs.
 *
 * @internal
 */
export const recordRejection = (
  telemetry: Telemetry,
  key: string | undefined,
  rejection: Api.CircuitBreakerOpen,
  clock: Clock.Clock
): void => {
  callsMetric.unsafeUpdate(1, withKey(telemetry, telemetry.callLabels.rejected, key))
  const span = currentSpan()
  if (span === undefined) return
  span.event("circuit_breaker.rejected", clock.unsafeCurrentTimeNanos(), {
    "circuit_breaker.name": telemetry.name,
    "circuit_breaker.state": rejection.state,
    "circuit_breaker.retry_after_ms": retryAfterMillis(rejection),
    ...(key === undefined ? {} : { "circuit_breaker.key": key })
  })
}

/**
 * The current span of the fiber that is running, read from its context. `Fiber.getCurrentFiber` finds that fiber
 * without an Effect step of its own, which costs as much as the rest of a rejection. `Effect.currentSpan` would fail
 * with an exception, and capture a stack trace, when there is no span.
 */
const currentSpan = (): Tracer.Span | undefined => {
  const fiber = Fiber.getCurrentFiber()
  if (fiber._tag === "None") return undefined
  const span = Context.getOption(fiber.value.currentContext, Tracer.ParentSpan)
  return span._tag === "Some" && span.value._tag === "Span" ? span.value : undefined
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
    telemetry.nameLabel,
    MetricLabel.make("from", from),
    MetricLabel.make("to", to),
    ...withKey(telemetry, [], key)
  ])
  if (from !== telemetry.uncounted) stateMetric.unsafeModify(-1, telemetry.stateLabels[from])
  if (to !== telemetry.uncounted) stateMetric.unsafeModify(1, telemetry.stateLabels[to])
}

/**
 * Moves one dropped circuit out of its state's gauge, for keyed breakers that drop or evict circuits.
 *
 * @internal
 */
export const recordDrop = (telemetry: Telemetry, state: Machine.StateTag): void => {
  if (state !== telemetry.uncounted) stateMetric.unsafeModify(-1, telemetry.stateLabels[state])
}

/**
 * Adds the breaker's name and the state that admitted the call to the running fiber's current span, when there is
 * one. Called while that fiber runs.
 *
 * @internal
 */
export const annotateSpan = (telemetry: Telemetry, key: string | undefined, state: Machine.StateTag): void => {
  const span = currentSpan()
  if (span === undefined) return
  const attributes = telemetry.nameAttributes[state]
  for (const name in attributes) span.attribute(name, attributes[name])
  if (key !== undefined) span.attribute("circuit_breaker.key", key)
}
