import * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberRef from "effect/FiberRef"
import * as Option from "effect/Option"
import type * as PubSub from "effect/PubSub"
import type * as Api from "../CircuitBreaker.js"
// The public module imports this one, so nothing from it may be read while this module's top level evaluates.
import { CircuitBreakerOpen } from "../CircuitBreaker.js"
import * as Machine from "./machine.js"
import type { ResolvedOptions } from "./options.js"
import type { CooldownScheduler } from "./scheduler.js"

/**
 * Atomic access to the state of one circuit: `modify` reads the `Clock` once, runs `f` on the current state and that
 * time, and stores the state it returns, in one step that no other fiber can interleave with.
 *
 * @internal
 */
export interface Circuit {
  readonly key: string | undefined
  readonly modify: <A>(
    f: (state: Machine.MachineState, now: number) => readonly [A, Machine.MachineState]
  ) => Effect.Effect<A>
}

/**
 * The parts that every circuit of one breaker shares: options, the classifier, `Clock`, the transitions hub and the
 * cooldown scheduler.
 *
 * @internal
 */
export interface Shared {
  readonly options: ResolvedOptions
  readonly classify: Classifier
  readonly clock: Clock.Clock
  readonly pubsub: PubSub.PubSub<Api.Transition>
  readonly scheduler: CooldownScheduler
}

/** @internal */
export const toPublicState = (state: Machine.MachineState, now: number): Api.State => {
  switch (state._tag) {
    case "Closed":
      return { _tag: "Closed", consecutiveFailures: state.consecutiveFailures }
    case "Open":
      return { _tag: "Open", remainingCooldown: Duration.millis(Math.max(0, state.openUntil - now)) }
    case "HalfOpen":
      return { _tag: "HalfOpen", trialSuccesses: state.trialSuccesses, trialRunning: state.trialRunning }
  }
}

const describeTransition = (step: Machine.Step<unknown>, options: ResolvedOptions): string => {
  const state = step.state
  if (state._tag === "Open") {
    const cooldown = Duration.format(Duration.millis(state.openUntil - state.openedAt))
    return step.transition?.from === "HalfOpen"
      ? `Circuit breaker reopened because a trial call failed; rejecting calls for ${cooldown}`
      : `Circuit breaker opened after ${options.failureThreshold} consecutive failures; rejecting calls for ${cooldown}`
  }
  if (state._tag === "HalfOpen") {
    return "Circuit breaker cooldown ended; admitting one trial call at a time"
  }
  return options.successThreshold === 1
    ? "Circuit breaker closed after a successful trial call"
    : `Circuit breaker closed after ${options.successThreshold} successful trial calls in a row`
}

/**
 * Applies `f` to the circuit's state at the current `Clock` time. The transition, if any, is published inside the
 * same atomic step, so subscribers see transitions in the order the state changed, each exactly once.
 *
 * @internal
 */
export const apply = <A>(
  shared: Shared,
  circuit: Circuit,
  f: (state: Machine.MachineState, now: number) => Machine.Step<A>
): Effect.Effect<Machine.Step<A>> =>
  circuit.modify((current, now) => {
    const step = f(current, now)
    if (step.transition !== undefined) {
      const { from, to, at } = step.transition
      const transition: Api.Transition =
        circuit.key === undefined
          ? { name: shared.options.name, from, to, at }
          : { name: shared.options.name, key: circuit.key, from, to, at }
      shared.pubsub.unsafeOffer(transition)
    }
    return [step, step.state]
  })

/**
 * Logs a transition and, when it opened the circuit, schedules the end of the cooldown.
 *
 * @internal
 */
export const afterTransition = <A>(shared: Shared, circuit: Circuit, step: Machine.Step<A>): Effect.Effect<void> => {
  const transition = step.transition
  if (transition === undefined) {
    return Effect.void
  }

  const message = describeTransition(step, shared.options)
  const log = transition.to === "Open" ? Effect.logWarning(message) : Effect.logInfo(message)
  const annotations: Record<string, string> = {
    circuitBreaker: shared.options.name,
    from: transition.from,
    to: transition.to
  }
  if (circuit.key !== undefined) {
    annotations.key = circuit.key
  }
  const logged = Effect.annotateLogs(log, annotations)

  const opened = step.state
  if (opened._tag !== "Open") {
    return logged
  }
  return Effect.zipRight(
    Effect.sync(() => shared.scheduler.schedule(circuit.key ?? "", opened.generation, opened.openUntil)),
    logged
  )
}

/**
 * Logs a throw from a user's classifier at the fiber's unhandled-error log level.
 *
 * @internal
 */
export const logClassifierThrow = (name: string, classifier: string, thrown: unknown): Effect.Effect<void> =>
  Effect.flatMap(FiberRef.get(FiberRef.unhandledErrorLogLevel), (level) =>
    Option.isSome(level)
      ? Effect.logWithLevel(
          level.value,
          `Circuit breaker ${classifier} threw; counting the call as a failure`,
          Cause.die(thrown)
        ).pipe(Effect.annotateLogs({ circuitBreaker: name }))
      : Effect.void
  )

/**
 * The classification of one call: its outcome, and for a failure the shortest cooldown the upstream asked for (in
 * milliseconds, 0 when it asked for none).
 *
 * @internal
 */
export interface Verdict {
  readonly outcome: Machine.Outcome
  readonly minCooldownMillis: number
}

/**
 * Classifies the exit of a protected call.
 *
 * @internal
 */
export type Classifier = (exit: Exit.Exit<unknown, unknown>) => Effect.Effect<Verdict>

/** @internal */
export const success: Effect.Effect<Verdict> = Effect.succeed({ outcome: "Success", minCooldownMillis: 0 })
/** @internal */
export const failure: Effect.Effect<Verdict> = Effect.succeed({ outcome: "Failure", minCooldownMillis: 0 })
/** @internal */
export const ignored: Effect.Effect<Verdict> = Effect.succeed({ outcome: "Ignored", minCooldownMillis: 0 })

/**
 * Calls `isFailure` on a typed failure. A throw counts as a failure and is logged at the fiber's unhandled-error log
 * level, because the caller must still get the call's own result.
 *
 * @internal
 */
export const applyIsFailure = (
  name: string,
  isFailure: (error: unknown) => boolean,
  error: unknown
): Effect.Effect<Verdict> => {
  try {
    return isFailure(error) ? failure : ignored
  } catch (thrown) {
    return Effect.zipRight(logClassifierThrow(name, "isFailure", thrown), failure)
  }
}

/**
 * Returns the default classifier. A success counts as `Success`. A defect counts as `Failure`, and so does a failure
 * that `isFailure` accepts. An interruption counts as `Ignored`, and so does a failure that `isFailure` rejects.
 *
 * @internal
 */
export const defaultClassifier =
  (options: ResolvedOptions): Classifier =>
  (exit) => {
    if (Exit.isSuccess(exit)) {
      return success
    }

    const cause = exit.cause
    if (Cause.isDie(cause)) {
      return failure
    }

    const error = Cause.failureOption(cause)
    if (Option.isNone(error)) {
      return ignored
    }

    const isFailure = options.isFailure
    return isFailure === undefined ? failure : applyIsFailure(options.name, isFailure, error.value)
  }

// A rejection's stack would only show the breaker's own frames, and capturing it costs several microseconds on a
// path that runs for every call while the breaker is open.
const withoutStackTrace = <A>(make: () => A): A => {
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 0
  try {
    return make()
  } finally {
    Error.stackTraceLimit = limit
  }
}

const reject = (
  shared: Shared,
  circuit: Circuit,
  admission: Extract<Machine.Admission, { admitted: false }>
): Effect.Effect<never, Api.CircuitBreakerOpen> =>
  Effect.fail(
    withoutStackTrace(
      () =>
        new CircuitBreakerOpen({
          name: shared.options.name,
          ...(circuit.key === undefined ? {} : { key: circuit.key }),
          state: admission.state,
          retryAfter: Duration.millis(admission.retryAfterMillis)
        })
    )
  )

const record = (shared: Shared, circuit: Circuit, generation: number, exit: Exit.Exit<unknown, unknown>) =>
  shared.classify(exit).pipe(
    Effect.flatMap((verdict) =>
      apply(shared, circuit, (state, now) =>
        Machine.record(state, generation, verdict.outcome, now, shared.options, verdict.minCooldownMillis)
      )
    ),
    Effect.flatMap((step) => afterTransition(shared, circuit, step))
  )

/**
 * Runs `effect` through one circuit: admission, the call, and the record of its outcome.
 *
 * The mask covers admission, so an interruption can never land between taking a trial slot and installing the
 * finalizer that gives it back. Only the user's effect runs interruptibly.
 *
 * @internal
 */
export const protect = <A, E, R>(
  shared: Shared,
  circuit: Circuit,
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E | Api.CircuitBreakerOpen, R> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.flatMap(apply(shared, circuit, Machine.admit), (step): Effect.Effect<A, E | Api.CircuitBreakerOpen, R> => {
      const admission = step.result
      if (!admission.admitted) {
        return reject(shared, circuit, admission)
      }

      const run = Effect.onExit(restore(effect), (exit) => record(shared, circuit, admission.generation, exit))
      return step.transition === undefined ? run : Effect.zipRight(afterTransition(shared, circuit, step), run)
    })
  )

/**
 * Reads the public state of one circuit, moving it to HalfOpen first when its cooldown has ended.
 *
 * @internal
 */
export const state = (shared: Shared, circuit: Circuit): Effect.Effect<Api.State> =>
  Effect.flatMap(apply(shared, circuit, Machine.observe), (step) =>
    Effect.as(afterTransition(shared, circuit, step), toPublicState(step.state, shared.clock.unsafeCurrentTimeMillis()))
  )

/**
 * Ends the cooldown of one circuit when its timer fires; a timer from an earlier opening changes nothing.
 *
 * @internal
 */
export const cooldownElapsed = (shared: Shared, circuit: Circuit, generation: number): Effect.Effect<void> =>
  Effect.flatMap(
    apply(shared, circuit, (state, now) => Machine.cooldownElapsed(state, generation, now)),
    (step) => afterTransition(shared, circuit, step)
  )
