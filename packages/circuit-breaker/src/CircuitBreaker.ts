/**
 * A circuit breaker for Effect: it stops a retry loop from turning a partial outage of an upstream into a full one.
 *
 * The breaker has three states.
 *
 * - **Closed**: calls run. Each failure adds to a count of consecutive failures and each success resets it. The
 *   `failureThreshold`-th consecutive failure opens the breaker.
 * - **Open**: calls fail at once with {@link CircuitBreakerOpen}, without running. When the `cooldown` has passed,
 *   read from `Clock`, the breaker moves to HalfOpen by itself.
 * - **HalfOpen**: one trial call runs at a time and every other call is rejected. `successThreshold` successful
 *   trials in a row close the breaker; a failed trial opens it again for a fresh cooldown.
 *
 * Retry through the breaker with {@link retry} or {@link untilOpen}: every attempt is one outcome, and an open breaker
 * ends the retry at once instead of letting it sleep and call again. Put a timeout inside `protect`, so that a hung
 * call counts as a failure.
 *
 * **Gotchas**
 *
 * - An interrupted call counts as neither success nor failure. An interrupted trial frees the trial slot.
 * - Calls admitted before the breaker opened may still finish afterwards. Their outcomes are ignored.
 * - Every `protect` of one breaker shares one circuit. Use one breaker per upstream.
 *
 * @since 0.1.0
 */
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import type * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import * as internal from "./internal/circuitBreaker.js"
import * as keyedInternal from "./internal/keyed.js"
import * as registryInternal from "./internal/registry.js"

/**
 * The unique identifier of a {@link CircuitBreaker} value.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@effect-resilience/circuit-breaker"
 *
 * const isBreaker = (u: unknown): u is CircuitBreaker.CircuitBreaker =>
 *   typeof u === "object" && u !== null && CircuitBreaker.TypeId in u
 * ```
 *
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = internal.TypeId

/**
 * The type of {@link TypeId}.
 *
 * @example
 * ```ts
 * import type { CircuitBreaker } from "@effect-resilience/circuit-breaker"
 *
 * type HasBreakerId = { readonly [K in CircuitBreaker.TypeId]: CircuitBreaker.TypeId }
 * ```
 *
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * A circuit breaker guarding one upstream.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@effect-resilience/circuit-breaker"
 * import { Effect } from "effect"
 *
 * // Apps that hold several breakers keep the service values and call them directly.
 * const program = Effect.gen(function* () {
 *   const payments = yield* CircuitBreaker.make({ name: "payments", failureThreshold: 5, cooldown: "30 seconds" })
 *   const charge = payments.protect(Effect.succeed("charged"))
 *   const result = yield* charge
 *   const state = yield* payments.state
 *   return { result, state: state._tag }
 * })
 *
 * Effect.runPromise(Effect.scoped(program))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface CircuitBreaker {
  readonly [TypeId]: TypeId
  /** The name given in the options, used in logs, transitions and rejections. */
  readonly name: string
  /**
   * Runs `effect` if the breaker admits it and records its outcome, or fails with {@link CircuitBreakerOpen} without
   * running it.
   */
  readonly protect: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | CircuitBreakerError, R>
  /** The current state, read at the current `Clock` time. */
  readonly state: Effect.Effect<State>
  /**
   * Every state change from the moment the stream is run, each published once, in the order it happened.
   */
  readonly transitions: Stream.Stream<Transition>
  /** Holds the breaker open, rejecting every call, until {@link CircuitBreaker.reset}. */
  readonly isolate: Effect.Effect<void>
  /** Closes the breaker and clears every count, the cooldown backoff included. */
  readonly reset: Effect.Effect<void>
  /** Lets every call through and never opens, while still recording outcomes, until {@link CircuitBreaker.reset}. */
  readonly disable: Effect.Effect<void>
}

/**
 * The service tag of the breaker that {@link layer} provides.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@effect-resilience/circuit-breaker"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function* () {
 *   const breaker = yield* CircuitBreaker.CircuitBreaker
 *   yield* Effect.log(`using breaker ${breaker.name}`)
 * })
 *
 * program.pipe(Effect.provide(CircuitBreaker.layer({ failureThreshold: 5, cooldown: "30 seconds" })))
 * ```
 *
 * @since 0.1.0
 * @category tags
 */
export const CircuitBreaker: Context.Tag<CircuitBreaker, CircuitBreaker> = internal.tag

/**
 * The options of a breaker.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@effect-resilience/circuit-breaker"
 *
 * const options: CircuitBreaker.Options = {
 *   name: "llm-api",
 *   failureThreshold: 5,
 *   successThreshold: 2,
 *   cooldown: "30 seconds",
 *   // A 400 is the caller's mistake, not a sign that the upstream is failing.
 *   isFailure: (error) => !(error instanceof Error && error.message.includes("400"))
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * Consecutive failures in Closed that open the breaker: shorthand for `policy: consecutiveFailures(n)`. An integer
   * of at least 1. Give either this or `policy`.
   */
  readonly failureThreshold?: number | undefined
  /**
   * The trip policy that opens a Closed breaker: one policy, or several of which any one opens it. See
   * {@link consecutiveFailures}, {@link failureRate} and {@link slowCallRate}.
   */
  readonly policy?: TripPolicy | ReadonlyArray<TripPolicy> | undefined
  /** Successful trials in a row in HalfOpen that close the breaker. An integer of at least 1; default 1. */
  readonly successThreshold?: number | undefined
  /**
   * How long the breaker stays Open before a trial may run: a finite duration above zero, or a `Schedule` whose n-th
   * delay is the cooldown of the n-th opening in a row (for backoff). The count of openings starts over when the
   * breaker opens after staying closed at least as long as its last period of being open (from opening to closing).
   */
  readonly cooldown: Duration.DurationInput | Schedule.Schedule<unknown, unknown, never>
  /**
   * The upper bound of every cooldown, whether it comes from a `Schedule` or a `Retry-After`. Default: 10 minutes,
   * or the cooldown if that is longer.
   */
  readonly maxCooldown?: Duration.DurationInput | undefined
  /**
   * Interrupts a protected call that runs longer than this, which then fails with {@link CircuitBreakerTimeout} and
   * counts as a failure. Default: no timeout outside HalfOpen.
   */
  readonly callTimeout?: Duration.DurationInput | undefined
  /**
   * The same for the HalfOpen trial, so that a hung trial can never hold HalfOpen. Default: `callTimeout`, else one
   * minute.
   */
  readonly trialTimeout?: Duration.DurationInput | undefined
  /** The name used in logs, transitions, metrics and rejections. A non-empty string; default `"default"`. */
  readonly name?: string | undefined
  /**
   * Decides whether a typed failure counts against the upstream. Default: every failure counts. A failure for which
   * it returns `false` counts as neither success nor failure. Defects and timeouts always count as failures. If it
   * throws, the call counts as a failure and the throw is logged.
   */
  readonly isFailure?: ((error: unknown) => boolean) | undefined
  /** `"Disabled"` starts the breaker disabled: it records outcomes but never rejects. Default `"Enabled"`. */
  readonly mode?: "Enabled" | "Disabled" | undefined
  /**
   * Records how long each admitted call ran in the `circuit_breaker_call_duration_ms` histogram. Default `false`:
   * timing a call reads the `Clock` twice, and a closed, succeeding call otherwise reads it never, unless a
   * slow-call policy needs the duration.
   */
  readonly durationMetric?: boolean | undefined
}

/**
 * A rule that opens a Closed breaker, as plain data. Build it with {@link consecutiveFailures}, {@link failureRate} or
 * {@link slowCallRate}.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@effect-resilience/circuit-breaker"
 *
 * const policies: ReadonlyArray<CircuitBreaker.TripPolicy> = [
 *   CircuitBreaker.failureRate({ threshold: 0.5, minimumCalls: 20, window: CircuitBreaker.lastDuration("30 seconds") }),
 *   CircuitBreaker.slowCallRate({
 *     threshold: 0.8,
 *     slowCallDuration: "5 seconds",
 *     minimumCalls: 10,
 *     window: CircuitBreaker.lastCalls(50)
 *   })
 * ]
 * ```
 *
 * @since 0.1.0
 * @category policies
 */
export type TripPolicy = ConsecutiveFailures | FailureRate | SlowCallRate

/**
 * Opens after `threshold` failures in a row; any success resets the count.
 *
 * @example
 * ```ts
 * import type { CircuitBreaker } from "@effect-resilience/circuit-breaker"
 *
 * const policy: CircuitBreaker.ConsecutiveFailures = { _tag: "ConsecutiveFailures", threshold: 5 }
 * ```
 *
 * @since 0.1.0
 * @category policies
 */
export interface ConsecutiveFailures {
  readonly _tag: "ConsecutiveFailures"
  /** An integer of at least 1. */
  readonly threshold: number
}

/**
 * Opens once at least `minimumCalls` calls are in the window and the fraction of them that failed reaches
 * `threshold`.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@effect-resilience/circuit-breaker"
 *
 * const policy: CircuitBreaker.FailureRate = {
 *   _tag: "FailureRate",
 *   threshold: 0.5,
 *   minimumCalls: 10,
 *   window: CircuitBreaker.lastCalls(100)
 * }
 * ```
 *
 * @since 0.1.0
 * @category policies
 */
export interface FailureRate {
  readonly _tag: "FailureRate"
  /** A fraction above 0 and at most 1. */
  readonly threshold: number
  /** An integer of at least 1, and at most the size of a count window. */
  readonly minimumCalls: number
  readonly window: SlidingWindow
}

/**
 * Opens once at least `minimumCalls` calls are in the window and the fraction of them that took at least
 * `slowCallDuration` reaches `threshold`, even if every call succeeded. A HalfOpen trial that succeeds but is that
 * slow counts as a failed trial.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@effect-resilience/circuit-breaker"
 *
 * const policy: CircuitBreaker.SlowCallRate = {
 *   _tag: "SlowCallRate",
 *   threshold: 0.8,
 *   slowCallDuration: "3 seconds",
 *   minimumCalls: 10,
 *   window: CircuitBreaker.lastDuration("1 minute", 12)
 * }
 * ```
 *
 * @since 0.1.0
 * @category policies
 */
export interface SlowCallRate {
  readonly _tag: "SlowCallRate"
  /** A fraction above 0 and at most 1. */
  readonly threshold: number
  /** A finite duration above zero. */
  readonly slowCallDuration: Duration.DurationInput
  /** An integer of at least 1, and at most the size of a count window. */
  readonly minimumCalls: number
  readonly window: SlidingWindow
}

/**
 * The calls a rate policy looks at: the last `size` calls, or the calls that ended in the last `duration`, counted
 * in `buckets` buckets of equal width aligned to the epoch (so the window covers between `buckets - 1` and `buckets`
 * bucket widths).
 *
 * @example
 * ```ts
 * import type { CircuitBreaker } from "@effect-resilience/circuit-breaker"
 *
 * const lastHundred: CircuitBreaker.SlidingWindow = { _tag: "Calls", size: 100 }
 * const lastMinute: CircuitBreaker.SlidingWindow = { _tag: "Time", duration: "1 minute", buckets: 6 }
 * ```
 *
 * @since 0.1.0
 * @category policies
 */
export type SlidingWindow =
  | { readonly _tag: "Calls"; readonly size: number }
  | { readonly _tag: "Time"; readonly duration: Duration.DurationInput; readonly buckets: number }

/**
 * Builds a {@link ConsecutiveFailures} policy.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@effect-resilience/circuit-breaker"
 *
 * const breaker = CircuitBreaker.make({ policy: CircuitBreaker.consecutiveFailures(5), cooldown: "30 seconds" })
 * ```
 *
 * @since 0.1.0
 * @category policies
 */
export const consecutiveFailures = (threshold: number): ConsecutiveFailures => ({
  _tag: "ConsecutiveFailures",
  threshold
})

/**
 * Builds a {@link FailureRate} policy. `minimumCalls` defaults to 10.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@effect-resilience/circuit-breaker"
 *
 * const policy = CircuitBreaker.failureRate({ threshold: 0.5, window: CircuitBreaker.lastDuration("30 seconds") })
 * ```
 *
 * @since 0.1.0
 * @category policies
 */
export const failureRate = (options: {
  readonly threshold: number
  readonly window: SlidingWindow
  readonly minimumCalls?: number | undefined
}): FailureRate => ({
  _tag: "FailureRate",
  threshold: options.threshold,
  minimumCalls: options.minimumCalls ?? 10,
  window: options.window
})

/**
 * Builds a {@link SlowCallRate} policy. `minimumCalls` defaults to 10.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@effect-resilience/circuit-breaker"
 *
 * const policy = CircuitBreaker.slowCallRate({
 *   threshold: 0.5,
 *   slowCallDuration: "2 seconds",
 *   window: CircuitBreaker.lastCalls(40)
 * })
 * ```
 *
 * @since 0.1.0
 * @category policies
 */
export const slowCallRate = (options: {
  readonly threshold: number
  readonly slowCallDuration: Duration.DurationInput
  readonly window: SlidingWindow
  readonly minimumCalls?: number | undefined
}): SlowCallRate => ({
  _tag: "SlowCallRate",
  threshold: options.threshold,
  slowCallDuration: options.slowCallDuration,
  minimumCalls: options.minimumCalls ?? 10,
  window: options.window
})

/**
 * A window over the last `size` calls. `size` is an integer from 1 to 100,000.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@effect-resilience/circuit-breaker"
 *
 * const window = CircuitBreaker.lastCalls(100)
 * ```
 *
 * @since 0.1.0
 * @category policies
 */
export const lastCalls = (size: number): SlidingWindow => ({ _tag: "Calls", size })

/**
 * A window over the calls that ended in the last `duration`, in `buckets` buckets (an integer from 1 to 1,000;
 * default 10).
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@effect-resilience/circuit-breaker"
 *
 * const window = CircuitBreaker.lastDuration("1 minute", 12)
 * ```
 *
 * @since 0.1.0
 * @category policies
 */
export const lastDuration = (duration: Duration.DurationInput, buckets = 10): SlidingWindow => ({
  _tag: "Time",
  duration,
  buckets
})

/**
 * The trip policy the docs recommend for partial outages, where a share of calls fails without long runs of
 * failures in a row: a failure rate of 50% over the calls of the last 30 seconds (10 buckets of 3 seconds), once at
 * least 10 calls are in the window.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@effect-resilience/circuit-breaker"
 *
 * const layer = CircuitBreaker.layer({ policy: CircuitBreaker.partialOutagePolicy, cooldown: "30 seconds" })
 * ```
 *
 * @since 0.1.0
 * @category policies
 */
export const partialOutagePolicy: FailureRate = failureRate({
  threshold: 0.5,
  minimumCalls: 10,
  window: lastDuration("30 seconds", 10)
})

/**
 * The state of a breaker, with what a dashboard shows.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@effect-resilience/circuit-breaker"
 * import { Duration } from "effect"
 *
 * const describe = (state: CircuitBreaker.State): string => {
 *   switch (state._tag) {
 *     case "Closed":
 *       return `closed, ${state.consecutiveFailures} consecutive failures`
 *     case "Open":
 *       return `open for ${Duration.format(state.remainingCooldown)} more`
 *     case "HalfOpen":
 *       return `half-open, ${state.trialSuccesses} trial successes`
 *     case "Isolated":
 *       return "isolated by an operator"
 *     case "Disabled":
 *       return "disabled: admits every call"
 *   }
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type State = Closed | Open | HalfOpen | Isolated | Disabled

/**
 * Calls run; failures are counted.
 *
 * @example
 * ```ts
 * import type { CircuitBreaker } from "@effect-resilience/circuit-breaker"
 *
 * const closed: CircuitBreaker.Closed = { _tag: "Closed", consecutiveFailures: 2 }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Closed {
  readonly _tag: "Closed"
  /** Failures in a row since the last success or since the breaker closed. */
  readonly consecutiveFailures: number
  /** For each rate policy, in the policy's order, the calls in its window now; absent when there is none. */
  readonly windows?: ReadonlyArray<WindowTotals>
}

/**
 * The calls in a rate policy's window, and how many of them failed or were slow.
 *
 * @example
 * ```ts
 * import type { CircuitBreaker } from "@effect-resilience/circuit-breaker"
 *
 * const failureRateOf = (totals: CircuitBreaker.WindowTotals) =>
 *   totals.calls === 0 ? 0 : totals.failures / totals.calls
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface WindowTotals {
  readonly policy: "FailureRate" | "SlowCallRate"
  readonly calls: number
  readonly failures: number
  readonly slowCalls: number
}

/**
 * Held open by {@link CircuitBreaker.isolate} until {@link CircuitBreaker.reset}: every call is rejected.
 *
 * @example
 * ```ts
 * import type { CircuitBreaker } from "@effect-resilience/circuit-breaker"
 *
 * const isolated: CircuitBreaker.Isolated = { _tag: "Isolated" }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Isolated {
  readonly _tag: "Isolated"
}

/**
 * Set by {@link CircuitBreaker.disable} or the `mode` option until {@link CircuitBreaker.reset}: every call runs
 * and is recorded in metrics, and nothing opens the breaker.
 *
 * @example
 * ```ts
 * import type { CircuitBreaker } from "@effect-resilience/circuit-breaker"
 *
 * const disabled: CircuitBreaker.Disabled = { _tag: "Disabled" }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Disabled {
  readonly _tag: "Disabled"
}

/**
 * Calls are rejected until the cooldown ends.
 *
 * @example
 * ```ts
 * import type { CircuitBreaker } from "@effect-resilience/circuit-breaker"
 * import { Duration } from "effect"
 *
 * const open: CircuitBreaker.Open = { _tag: "Open", remainingCooldown: Duration.seconds(12) }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Open {
  readonly _tag: "Open"
  /** Time left until the breaker moves to HalfOpen. */
  readonly remainingCooldown: Duration.Duration
}

/**
 * One trial call at a time decides whether the breaker closes or opens again.
 *
 * @example
 * ```ts
 * import type { CircuitBreaker } from "@effect-resilience/circuit-breaker"
 *
 * const halfOpen: CircuitBreaker.HalfOpen = { _tag: "HalfOpen", trialSuccesses: 1, trialRunning: false }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface HalfOpen {
  readonly _tag: "HalfOpen"
  /** Successful trials since the breaker became HalfOpen. */
  readonly trialSuccesses: number
  /** Whether a trial call is running now, so that other calls are rejected. */
  readonly trialRunning: boolean
}

/**
 * A change of state, published on {@link CircuitBreaker.transitions}.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@effect-resilience/circuit-breaker"
 * import { Effect, Stream } from "effect"
 *
 * const logOpenings = Effect.gen(function* () {
 *   const breaker = yield* CircuitBreaker.CircuitBreaker
 *   yield* breaker.transitions.pipe(
 *     Stream.filter((transition) => transition.to === "Open"),
 *     Stream.runForEach((transition) => Effect.log(`${transition.name} opened at ${transition.at}`))
 *   )
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Transition {
  /** The breaker's name. */
  readonly name: string
  /** The key of the circuit that changed, for keyed breakers; absent for a single breaker. */
  readonly key?: string
  readonly from: State["_tag"]
  readonly to: State["_tag"]
  /** Epoch milliseconds, read from `Clock`, of the event that caused the change. */
  readonly at: number
}

/**
 * The failure of a call that the breaker rejected without running it.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@effect-resilience/circuit-breaker"
 * import { Duration, Effect } from "effect"
 *
 * const fetchQuote = Effect.succeed(42)
 *
 * const withFallback = CircuitBreaker.protect(fetchQuote).pipe(
 *   Effect.catchTag("CircuitBreakerOpen", (rejection) =>
 *     Effect.logWarning(`${rejection.breakerName} is ${rejection.state}; retry in ${Duration.format(rejection.retryAfter)}`).pipe(
 *       Effect.as(0)
 *     )
 *   )
 * )
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class CircuitBreakerOpen extends Data.TaggedError("CircuitBreakerOpen")<{
  /**
   * The name of the breaker that rejected the call. Not `name`, which an `Error` keeps for its kind: printed errors
   * start with it.
   */
  readonly breakerName: string
  /** The key of the circuit that rejected the call, for keyed breakers; absent for a single breaker. */
  readonly key?: string
  /**
   * `"Open"` while the cooldown runs, `"HalfOpen"` while another call runs as the trial, `"Isolated"` while an
   * operator keeps the breaker open.
   */
  readonly state: "Open" | "HalfOpen" | "Isolated"
  /** The remaining cooldown; zero while a HalfOpen trial runs, infinite while isolated. */
  readonly retryAfter: Duration.Duration
}> {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    const subject =
      this.key === undefined
        ? `Circuit breaker "${this.breakerName}"`
        : `Circuit breaker "${this.breakerName}" for ${this.key}`
    if (this.state === "Open") {
      return `${subject} is open; retry after ${Duration.format(this.retryAfter)}`
    }
    return this.state === "HalfOpen"
      ? `${subject} is half-open and a trial call is running`
      : `${subject} is isolated by an operator until it is reset`
  }
}

/**
 * The failure of a protected call that ran longer than `callTimeout`, or a trial that ran longer than
 * `trialTimeout`. The call was interrupted and counts as a failure.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@effect-resilience/circuit-breaker"
 * import { Duration, Effect } from "effect"
 *
 * const slowQuery = Effect.sleep("1 minute").pipe(Effect.as("rows"))
 *
 * const withFallback = CircuitBreaker.protect(slowQuery).pipe(
 *   Effect.catchTag("CircuitBreakerTimeout", (timeout) =>
 *     Effect.succeed(`timed out after ${Duration.format(timeout.timeout)}`)
 *   )
 * )
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class CircuitBreakerTimeout extends Data.TaggedError("CircuitBreakerTimeout")<{
  /** The name of the breaker whose timeout ended the call. */
  readonly breakerName: string
  /** The key of the circuit, for keyed breakers; absent for a single breaker. */
  readonly key?: string
  /** The timeout that the call exceeded. */
  readonly timeout: Duration.Duration
  /** Whether the call was a HalfOpen trial, bound by `trialTimeout` rather than `callTimeout`. */
  readonly trial: boolean
}> {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    const kind = this.trial ? "Trial call" : "Call"
    const subject =
      this.key === undefined
        ? `circuit breaker "${this.breakerName}"`
        : `circuit breaker "${this.breakerName}" for ${this.key}`
    return `${kind} through ${subject} timed out after ${Duration.format(this.timeout)}`
  }
}

/**
 * The failures a protected call adds to those of the effect itself.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@effect-resilience/circuit-breaker"
 *
 * const describe = (error: CircuitBreaker.CircuitBreakerError): string =>
 *   error._tag === "CircuitBreakerOpen" ? "rejected without a call" : "called, but timed out"
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export type CircuitBreakerError = CircuitBreakerOpen | CircuitBreakerTimeout

/**
 * Returns `true` when `u` is a {@link CircuitBreakerOpen} rejection.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@effect-resilience/circuit-breaker"
 *
 * const shouldAlert = (error: unknown) => !CircuitBreaker.isCircuitBreakerOpen(error)
 * ```
 *
 * @since 0.1.0
 * @category refinements
 */
export const isCircuitBreakerOpen: (u: unknown) => u is CircuitBreakerOpen = internal.isCircuitBreakerOpen

/**
 * Creates a breaker whose timer fiber lives in the current scope. Closing the scope stops the timer.
 *
 * Invalid options are a defect (`IllegalArgumentException`) whose message names the option, the value and the
 * allowed range.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@effect-resilience/circuit-breaker"
 * import { Effect } from "effect"
 *
 * const program = Effect.scoped(
 *   Effect.gen(function* () {
 *     const breaker = yield* CircuitBreaker.make({ name: "search", failureThreshold: 3, cooldown: "10 seconds" })
 *     return yield* breaker.protect(Effect.succeed("results"))
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (options: Options) => Effect.Effect<CircuitBreaker, never, Scope.Scope> = internal.make

/**
 * Provides a {@link CircuitBreaker} built from `options`. Every effect that uses the layer's output shares the one
 * circuit, so provide it once for all workers that call the same upstream.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@effect-resilience/circuit-breaker"
 * import { Effect } from "effect"
 *
 * const CompletionBreaker = CircuitBreaker.layer({ name: "llm-api", failureThreshold: 5, cooldown: "30 seconds" })
 *
 * const program = CircuitBreaker.protect(Effect.succeed("completion")).pipe(Effect.provide(CompletionBreaker))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: (options: Options) => Layer.Layer<CircuitBreaker> = internal.layer

/**
 * Provides a {@link CircuitBreaker} whose options are read from `Config`. Invalid values fail the layer with a
 * `ConfigError` that names the option, the value and the allowed range.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@effect-resilience/circuit-breaker"
 * import { Config } from "effect"
 *
 * const BreakerFromEnv = CircuitBreaker.layerConfig({
 *   name: Config.succeed("payments"),
 *   failureThreshold: Config.integer("PAYMENTS_BREAKER_FAILURE_THRESHOLD"),
 *   cooldown: Config.duration("PAYMENTS_BREAKER_COOLDOWN")
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig: (
  config: Config.Config.Wrap<Options>
) => Layer.Layer<CircuitBreaker, ConfigError.ConfigError> = internal.layerConfig

/**
 * Runs `effect` through the breaker in the context.
 *
 * The outcome counts as a failure when the effect fails with an error that `isFailure` accepts or dies, as a success
 * when it succeeds, and as nothing when it is interrupted.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@effect-resilience/circuit-breaker"
 * import { HttpClient } from "@effect/platform"
 * import { Effect } from "effect"
 *
 * const listModels = HttpClient.get("http://127.0.0.1:8080/v1/models").pipe(
 *   Effect.flatMap((response) => response.json),
 *   CircuitBreaker.protect
 * )
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const protect: <A, E, R>(
  effect: Effect.Effect<A, E, R>
) => Effect.Effect<A, E | CircuitBreakerError, R | CircuitBreaker> = internal.protect

/**
 * The state of the breaker in the context.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@effect-resilience/circuit-breaker"
 * import { Effect } from "effect"
 *
 * const report = CircuitBreaker.state.pipe(Effect.flatMap((state) => Effect.log(`breaker is ${state._tag}`)))
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const state: Effect.Effect<State, never, CircuitBreaker> = internal.state

/**
 * The transitions of the breaker in the context.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@effect-resilience/circuit-breaker"
 * import { Stream } from "effect"
 *
 * const firstOpening = CircuitBreaker.transitions.pipe(
 *   Stream.filter((transition) => transition.to === "Open"),
 *   Stream.take(1),
 *   Stream.runCollect
 * )
 * ```
 *
 * @since 0.1.0
 * @category accessors
 */
export const transitions: Stream.Stream<Transition, never, CircuitBreaker> = internal.transitions

/**
 * Holds the breaker in the context open until {@link reset}: every call is rejected with `CircuitBreakerOpen` (state
 * `"Isolated"`). The change is a transition like any other, published and logged.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@effect-resilience/circuit-breaker"
 * import { Effect } from "effect"
 *
 * // During an incident: stop all traffic to the upstream, then let it back in.
 * const drain = Effect.zipRight(CircuitBreaker.isolate, Effect.log("payments isolated"))
 * const restore = CircuitBreaker.reset
 * ```
 *
 * @since 0.1.0
 * @category manual control
 */
export const isolate: Effect.Effect<void, never, CircuitBreaker> = internal.isolate

/**
 * Closes the breaker in the context and clears its counts and cooldown backoff.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@effect-resilience/circuit-breaker"
 * import { Effect } from "effect"
 *
 * const closeNow = CircuitBreaker.reset.pipe(Effect.zipRight(CircuitBreaker.state))
 * ```
 *
 * @since 0.1.0
 * @category manual control
 */
export const reset: Effect.Effect<void, never, CircuitBreaker> = internal.reset

/**
 * Disables the breaker in the context until {@link reset}: every call runs and is recorded, and nothing opens it.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@effect-resilience/circuit-breaker"
 * import { Effect } from "effect"
 *
 * // Keep the metrics flowing while a misbehaving breaker is investigated.
 * const bypass = Effect.zipRight(CircuitBreaker.disable, Effect.logWarning("breaker disabled"))
 * ```
 *
 * @since 0.1.0
 * @category manual control
 */
export const disable: Effect.Effect<void, never, CircuitBreaker> = internal.disable

/**
 * Retries `effect` on `schedule`, running every attempt through the breaker in the context.
 *
 * A rejected attempt ends the retry at once with the {@link CircuitBreakerOpen} rejection: no further attempt and no
 * further sleep. When other callers open the breaker while the retry sleeps, the next attempt is rejected without
 * reaching the upstream, and the retry ends there, unless the cooldown has ended by then: the attempt then runs as the
 * trial call. Keep each delay of the schedule below the cooldown if a retry must never outlast an opening.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@effect-resilience/circuit-breaker"
 * import { Effect, Schedule } from "effect"
 *
 * const callUpstream = Effect.fail("503 Service Unavailable")
 *
 * const program = callUpstream.pipe(
 *   CircuitBreaker.retry(Schedule.exponential("100 millis").pipe(Schedule.intersect(Schedule.recurs(10)))),
 *   Effect.catchTag("CircuitBreakerOpen", () => Effect.succeed("served from cache"))
 * )
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const retry: {
  <Out, E, R2>(
    schedule: Schedule.Schedule<Out, NoInfer<E> | CircuitBreakerTimeout, R2>
  ): <A, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | CircuitBreakerError, R | R2 | CircuitBreaker>
  <A, E, R, Out, R2>(
    effect: Effect.Effect<A, E, R>,
    schedule: Schedule.Schedule<Out, NoInfer<E> | CircuitBreakerTimeout, R2>
  ): Effect.Effect<A, E | CircuitBreakerError, R | R2 | CircuitBreaker>
} = internal.retry

/**
 * Wraps a retry schedule so that it stops at once when an attempt was rejected by a breaker, for users who call
 * `Effect.retry` around {@link protect} themselves.
 *
 * The wrapped schedule never sees a rejection, so its own input checks only meet the upstream's errors. Its output
 * is `undefined` when the very first attempt was rejected.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@effect-resilience/circuit-breaker"
 * import { Effect, Schedule } from "effect"
 *
 * const callUpstream = Effect.fail("503 Service Unavailable")
 *
 * const program = CircuitBreaker.protect(callUpstream).pipe(
 *   Effect.retry(CircuitBreaker.untilOpen(Schedule.spaced("1 second").pipe(Schedule.compose(Schedule.recurs(5)))))
 * )
 * ```
 *
 * @since 0.1.0
 * @category schedules
 */
export const untilOpen: <Out, In, R>(
  schedule: Schedule.Schedule<Out, In, R>
) => Schedule.Schedule<Out | undefined, In | CircuitBreakerOpen, R> = internal.untilOpen

/**
 * The unique identifier of a {@link KeyedCircuitBreaker} value.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@effect-resilience/circuit-breaker"
 *
 * const isKeyed = (u: unknown): u is CircuitBreaker.KeyedCircuitBreaker =>
 *   typeof u === "object" && u !== null && CircuitBreaker.KeyedTypeId in u
 * ```
 *
 * @since 0.1.0
 * @category type ids
 */
export const KeyedTypeId: unique symbol = keyedInternal.KeyedTypeId

/**
 * The type of {@link KeyedTypeId}.
 *
 * @example
 * ```ts
 * import type { CircuitBreaker } from "@effect-resilience/circuit-breaker"
 *
 * type HasKeyedId = { readonly [K in CircuitBreaker.KeyedTypeId]: CircuitBreaker.KeyedTypeId }
 * ```
 *
 * @since 0.1.0
 * @category type ids
 */
export type KeyedTypeId = typeof KeyedTypeId

/**
 * One independent circuit per string key (an origin, a tenant, a model), all with the same options.
 *
 * A circuit is created on first use, at most one per key however many fibers use the key at once. Memory stays
 * bounded: circuits idle for longer than `idleTimeToLive` are dropped, and `maxKeys` caps how many are kept. The
 * breaker owns at most one timer fiber, which runs only while some circuit is Open, so idle keys cost no CPU.
 *
 * **Gotchas**
 *
 * - A circuit in its initial state takes no memory. With the default consecutive-failures policy, a key whose calls
 *   all succeed is never stored and {@link KeyedCircuitBreaker.size} does not count it. A rate policy stores every key
 *   it sees, since each call enters the key's window.
 * - An Open circuit in its cooldown, a HalfOpen one whose trial runs, and an isolated or disabled one are never dropped
 *   for being idle. Reading a circuit's state does not count as using it.
 * - When the map is full, eviction looks at the 16 least recently used circuits and evicts the first Closed one among
 *   them, else the one least worth keeping (HalfOpen with no trial, then Open, then a running trial, then isolated or
 *   disabled). It never scans the whole map, so a Closed circuit used more recently than those 16 may outlive them.
 * - Logs and transitions carry the key; metrics carry it only with `metricsByKey`. Keys come from your code, so keep
 *   them bounded and free of secrets.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@effect-resilience/circuit-breaker"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function* () {
 *   const perModel = yield* CircuitBreaker.keyed({ name: "llm", failureThreshold: 5, cooldown: "30 seconds" })
 *   const answer = yield* perModel.protect(Effect.succeed("hello"), "model-a")
 *   const modelB = yield* Effect.succeed("hi").pipe(perModel.protect("model-b"))
 *   const state = yield* perModel.state("model-a")
 *   return { answer, modelB, state: state._tag }
 * })
 *
 * Effect.runPromise(Effect.scoped(program))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface KeyedCircuitBreaker {
  readonly [KeyedTypeId]: KeyedTypeId
  /** The name given in the options, used in logs, transitions and rejections. */
  readonly name: string
  /**
   * Runs `effect` through the circuit of `key`, as {@link CircuitBreaker.protect} does for a single breaker. The
   * rejection carries the key.
   */
  readonly protect: {
    (key: string): <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | CircuitBreakerError, R>
    <A, E, R>(effect: Effect.Effect<A, E, R>, key: string): Effect.Effect<A, E | CircuitBreakerError, R>
  }
  /** The state of the circuit of `key`; a key with no stored circuit reads as Closed with no failures. */
  readonly state: (key: string) => Effect.Effect<State>
  /** Every state change of every circuit from the moment the stream is run, each carrying its key. */
  readonly transitions: Stream.Stream<Transition>
  /** How many circuits are stored now, after dropping idle ones. */
  readonly size: Effect.Effect<number>
  /** Holds the circuit of `key` open until it is reset. */
  readonly isolate: (key: string) => Effect.Effect<void>
  /** Closes the circuit of `key` and clears its counts. */
  readonly reset: (key: string) => Effect.Effect<void>
  /** Lets every call for `key` through until it is reset. */
  readonly disable: (key: string) => Effect.Effect<void>
}

/**
 * The service tag of the keyed breaker that {@link layerKeyed} provides.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@effect-resilience/circuit-breaker"
 * import { Effect } from "effect"
 *
 * const callTenant = (tenant: string) =>
 *   Effect.flatMap(CircuitBreaker.KeyedCircuitBreaker, (breakers) => breakers.protect(Effect.succeed(tenant), tenant))
 * ```
 *
 * @since 0.1.0
 * @category tags
 */
export const KeyedCircuitBreaker: Context.Tag<KeyedCircuitBreaker, KeyedCircuitBreaker> = keyedInternal.tag

/**
 * The options of a keyed breaker: those of a single breaker, applied to every key, plus the memory bounds.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@effect-resilience/circuit-breaker"
 *
 * const options: CircuitBreaker.KeyedOptions = {
 *   name: "origins",
 *   failureThreshold: 5,
 *   cooldown: "30 seconds",
 *   idleTimeToLive: "15 minutes",
 *   maxKeys: 50_000
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface KeyedOptions extends Options {
  /**
   * How long a circuit may go unused before it is dropped, so that the key starts again Closed. A finite duration
   * above zero; default 10 minutes.
   */
  readonly idleTimeToLive?: Duration.DurationInput | undefined
  /** The maximum number of circuits kept at once. An integer of at least 1; default 10,000. */
  readonly maxKeys?: number | undefined
  /**
   * Whether metrics carry each circuit's key as a label. Default `false`, so that the number of series stays bounded
   * by the number of breakers rather than of keys.
   */
  readonly metricsByKey?: boolean | undefined
}

/**
 * Creates a keyed breaker whose timer fiber lives in the current scope.
 *
 * Invalid options are a defect (`IllegalArgumentException`) whose message names the option, the value and the
 * allowed range.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@effect-resilience/circuit-breaker"
 * import { Effect } from "effect"
 *
 * const program = Effect.scoped(
 *   Effect.gen(function* () {
 *     const breakers = yield* CircuitBreaker.keyed({ failureThreshold: 3, cooldown: "10 seconds", maxKeys: 1_000 })
 *     return yield* breakers.protect(Effect.succeed("ok"), "https://api.example.com")
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const keyed: (options: KeyedOptions) => Effect.Effect<KeyedCircuitBreaker, never, Scope.Scope> =
  keyedInternal.make

/**
 * Provides a {@link KeyedCircuitBreaker} built from `options`.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@effect-resilience/circuit-breaker"
 * import { Effect } from "effect"
 *
 * const PerTenant = CircuitBreaker.layerKeyed({ name: "tenants", failureThreshold: 5, cooldown: "1 minute" })
 *
 * const program = Effect.flatMap(CircuitBreaker.KeyedCircuitBreaker, (breakers) => breakers.state("tenant-42")).pipe(
 *   Effect.provide(PerTenant)
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerKeyed: (options: KeyedOptions) => Layer.Layer<KeyedCircuitBreaker> = keyedInternal.layer

/**
 * One circuit in a {@link HealthReport}: plain data with durations in milliseconds, ready for `JSON.stringify`.
 *
 * @example
 * ```ts
 * import type { CircuitBreaker } from "@effect-resilience/circuit-breaker"
 *
 * const isUnhealthy = (entry: CircuitBreaker.HealthEntry) => entry.state !== "Closed" && entry.state !== "Disabled"
 * ```
 *
 * @since 0.1.0
 * @category health
 */
export type HealthEntry = {
  /** The breaker's name. */
  readonly name: string
  /** The circuit's key, for keyed breakers. */
  readonly key?: string
} & (
  | {
      readonly state: "Closed"
      readonly consecutiveFailures: number
      readonly windows?: ReadonlyArray<WindowTotals>
    }
  | { readonly state: "Open"; readonly remainingCooldownMillis: number }
  | { readonly state: "HalfOpen"; readonly trialSuccesses: number; readonly trialRunning: boolean }
  | { readonly state: "Isolated" | "Disabled" }
)

/**
 * Every circuit of every breaker in the process: each single breaker, and each circuit a keyed breaker stores.
 * A keyed breaker's keys that are in their initial Closed state are not stored, so they are not listed.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@effect-resilience/circuit-breaker"
 * import { Effect } from "effect"
 *
 * const openCircuits = Effect.map(CircuitBreaker.health, (report) =>
 *   report.breakers.filter((entry) => entry.state === "Open").length
 * )
 * ```
 *
 * @since 0.1.0
 * @category health
 */
export interface HealthReport {
  readonly breakers: ReadonlyArray<HealthEntry>
}

/**
 * Reads a {@link HealthReport} of every breaker made in this process whose scope is still open.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@effect-resilience/circuit-breaker"
 * import { Effect } from "effect"
 *
 * const printHealth = Effect.flatMap(CircuitBreaker.health, (report) => Effect.log(JSON.stringify(report)))
 * ```
 *
 * @since 0.1.0
 * @category health
 */
export const health: Effect.Effect<HealthReport> = registryInternal.snapshot
