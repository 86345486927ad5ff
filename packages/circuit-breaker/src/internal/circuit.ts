import * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberRef from "effect/FiberRef"
import * as Option from "effect/Option"
import { hasProperty } from "effect/Predicate"
import type * as PubSub from "effect/PubSub"
import type * as Api from "../CircuitBreaker.js"
// The public module imports this one, so nothing from it may be read while this module's top level evaluates.
import { CircuitBreakerOpen, CircuitBreakerTimeout } from "../CircuitBreaker.js"
import type { CircuitStore } from "../Store.js"
import type * as Machine from "./machine.js"
import type { AdmitWithoutSlot } from "./memoryStore.js"
import type { ResolvedOptions } from "./options.js"
import type { CooldownScheduler } from "./scheduler.js"
import * as Telemetry from "./telemetry.js"
import * as Window from "./window.js"

/**
 * One circuit of a breaker: the key it is stored under, and the key reported in transitions, rejections and logs
 * (`undefined` for a single breaker).
 *
 * @internal
 */
export interface Circuit {
  readonly key: string | undefined
  readonly storeKey: string
}

/** @internal */
export const single: Circuit = { key: undefined, storeKey: "" }

/** @internal */
export const keyed = (key: string): Circuit => ({ key, storeKey: key })

/**
 * The parts that every circuit of one breaker shares: options, policy, classifier, `Clock`, the transitions hub,
 * the cooldown scheduler and the metrics.
 *
 * @internal
 */
export interface Shared {
  readonly options: ResolvedOptions
  readonly policy: Machine.Policy
  readonly classify: Classifier
  readonly clock: Clock.Clock
  readonly pubsub: PubSub.PubSub<Api.Transition>
  readonly scheduler: CooldownScheduler
  readonly telemetry: Telemetry.Telemetry
  readonly store: CircuitStore
  /** The store's admission without a trial slot, when the store lives in this process; `undefined` otherwise. */
  readonly admitWithoutSlot: AdmitWithoutSlot | undefined
  /** Whether a success can change the state of a Closed circuit: only a policy with windows lets it. */
  readonly successMayTransition: boolean
  /** Whether calls are timed: for the duration metric, or for a slow-call policy, which judges by the duration. */
  readonly timesCalls: boolean
  /** The last rejection built, reused for the next identical one; see `rejectionFor`. */
  lastRejection: Rejection | undefined
}

/**
 * A rejection ready to return: the error, its remaining cooldown in milliseconds to compare cheaply, and the failed
 * `Exit` that carries it.
 *
 * @internal
 */
export interface Rejection {
  readonly error: Api.CircuitBreakerOpen
  readonly retryAfterMillis: number
  readonly exit: Exit.Exit<never, Api.CircuitBreakerOpen>
}

const windowTotals = (state: Machine.Closed, policy: Machine.Policy, now: number): Array<Api.WindowTotals> => {
  const totals: Array<Api.WindowTotals> = []
  state.windows.forEach((window, index) => {
    const trip = policy.trips[index]!
    if (window === undefined || trip._tag === "ConsecutiveFailures") return
    const { calls, failures, slowCalls } = Window.totalsAt(window, trip.window, now)
    totals.push({ policy: trip._tag, calls, failures, slowCalls })
  })
  return totals
}

/** @internal */
export const toPublicState = (state: Machine.MachineState, now: number, policy: Machine.Policy): Api.State => {
  switch (state._tag) {
    case "Closed": {
      const windows = windowTotals(state, policy, now)
      return windows.length === 0
        ? { _tag: "Closed", consecutiveFailures: state.consecutiveFailures }
        : { _tag: "Closed", consecutiveFailures: state.consecutiveFailures, windows }
    }
    case "Open":
      return { _tag: "Open", remainingCooldown: Duration.millis(Math.max(0, state.openUntil - now)) }
    case "HalfOpen":
      return { _tag: "HalfOpen", trialSuccesses: state.trialSuccesses, trialRunning: state.trialRunning }
    case "Isolated":
      return { _tag: "Isolated" }
    case "Disabled":
      return { _tag: "Disabled" }
  }
}

const describeTransition = (step: Machine.Step<unknown>): string => {
  const state = step.state
  const reason = step.transition?.reason ?? ""
  switch (state._tag) {
    case "Open": {
      const cooldown = Duration.format(Duration.millis(Math.round(state.openUntil - state.openedAt)))
      return step.transition?.from === "HalfOpen"
        ? `Circuit breaker reopened because ${reason}; rejecting calls for ${cooldown}`
        : `Circuit breaker opened after ${reason}; rejecting calls for ${cooldown}`
    }
    case "HalfOpen":
      return "Circuit breaker cooldown ended; admitting one trial call at a time"
    case "Closed":
      return step.transition?.from === "HalfOpen"
        ? `Circuit breaker closed because ${reason}`
        : `Circuit breaker ${reason}`
    case "Isolated":
    case "Disabled":
      return `Circuit breaker ${reason}`
  }
}

/**
 * Applies `operation` to the circuit through the store. The store reports the transition, if any, inside its atomic
 * step, and it is published there, so that subscribers see transitions in the order the state changed, each once.
 *
 * @internal
 */
export const apply = <A extends Machine.Admission | undefined = undefined>(
  shared: Shared,
  circuit: Circuit,
  operation: Machine.Operation
): Effect.Effect<Machine.Step<A>> =>
  shared.store.apply(circuit.storeKey, operation, (transition) => {
    const { from, to, at } = transition
    shared.pubsub.unsafeOffer(
      circuit.key === undefined
        ? { name: shared.options.name, from, to, at }
        : { name: shared.options.name, key: circuit.key, from, to, at }
    )
  }) as Effect.Effect<Machine.Step<A>>

const admitOperation: Machine.Operation = { _tag: "Admit" }
const observeOperation: Machine.Operation = { _tag: "Observe" }

/**
 * Logs a transition, counts it in the metrics and, when it opened the circuit, schedules the end of the cooldown.
 *
 * @internal
 */
export const afterTransition = <A>(shared: Shared, circuit: Circuit, step: Machine.Step<A>): Effect.Effect<void> => {
  const transition = step.transition
  if (transition === undefined) {
    return Effect.void
  }

  const message = describeTransition(step)
  const warn = transition.to === "Open" || transition.to === "Isolated"
  const log = warn ? Effect.logWarning(message) : Effect.logInfo(message)
  const annotations: Record<string, string> = {
    circuitBreaker: shared.options.name,
    from: transition.from,
    to: transition.to
  }
  if (circuit.key !== undefined) {
    annotations.key = circuit.key
  }
  Telemetry.recordTransition(shared.telemetry, circuit.key, transition.from, transition.to)
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
 * Classifies the exit of a protected call. A classifier that needs no effect returns the verdict itself, which spares
 * the hot path a step.
 *
 * @internal
 */
export type Classifier = (exit: Exit.Exit<unknown, unknown>) => Verdict | Effect.Effect<Verdict>

/** @internal */
export const success: Verdict = { outcome: "Success", minCooldownMillis: 0 }
/** @internal */
export const failure: Verdict = { outcome: "Failure", minCooldownMillis: 0 }
/** @internal */
export const ignored: Verdict = { outcome: "Ignored", minCooldownMillis: 0 }

/** @internal */
export const isCircuitBreakerTimeout = (u: unknown): u is Api.CircuitBreakerTimeout =>
  hasProperty(u, "_tag") && u._tag === "CircuitBreakerTimeout"

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
): Verdict | Effect.Effect<Verdict> => {
  try {
    return isFailure(error) ? failure : ignored
  } catch (thrown) {
    return Effect.as(logClassifierThrow(name, "isFailure", thrown), failure)
  }
}

/**
 * Returns the default classifier. A success counts as `Success`. A defect or a timeout of the breaker counts as
 * `Failure`, and so does a failure that `isFailure` accepts. An interruption counts as `Ignored`, and so does a
 * failure that `isFailure` rejects.
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
    if (isCircuitBreakerTimeout(error.value)) {
      return failure
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

/**
 * Returns the rejection for `admission`, reusing the last one when it has the same key, state and remaining
 * cooldown. Building one costs about half of a rejected call, and while a circuit is Open every call within the same
 * millisecond gets an identical error, so a burst of rejections shares one immutable value.
 */
const rejectionFor = (
  shared: Shared,
  circuit: Circuit,
  admission: Extract<Machine.Admission, { admitted: false }>
): Rejection => {
  const last = shared.lastRejection
  if (
    last !== undefined &&
    last.error.key === circuit.key &&
    last.error.state === admission.state &&
    last.retryAfterMillis === admission.retryAfterMillis
  ) {
    return last
  }

  const error = withoutStackTrace(
    () =>
      new CircuitBreakerOpen({
        breakerName: shared.options.name,
        ...(circuit.key === undefined ? {} : { key: circuit.key }),
        state: admission.state,
        retryAfter: Duration.millis(admission.retryAfterMillis)
      })
  )
  const rejection: Rejection = { error, retryAfterMillis: admission.retryAfterMillis, exit: Exit.fail(error) }
  shared.lastRejection = rejection
  return rejection
}

// Called from the continuation of admission, so while the calling fiber runs: telemetry finds its span there.
const reject = (
  shared: Shared,
  circuit: Circuit,
  admission: Extract<Machine.Admission, { admitted: false }>
): Effect.Effect<never, Api.CircuitBreakerOpen> => {
  const rejection = rejectionFor(shared, circuit, admission)
  Telemetry.recordRejection(shared.telemetry, circuit.key, rejection.error, shared.clock)
  return rejection.exit
}

/**
 * Records a finished call and then ends with its own exit, so that one `Exit` serves the classifier and the caller.
 */
const record = <A, E>(
  shared: Shared,
  circuit: Circuit,
  generation: number,
  startedAt: number,
  exit: Exit.Exit<A, E>
): Effect.Effect<A, E> => {
  const verdict = shared.classify(exit)
  return Effect.isEffect(verdict)
    ? Effect.flatMap(verdict, (verdict) => recordVerdict(shared, circuit, generation, startedAt, exit, verdict))
    : recordVerdict(shared, circuit, generation, startedAt, exit, verdict)
}

const recordVerdict = <A, E>(
  shared: Shared,
  circuit: Circuit,
  generation: number,
  startedAt: number,
  exit: Exit.Exit<A, E>,
  verdict: Verdict
): Effect.Effect<A, E> => {
  const durationMillis = shared.timesCalls ? Math.max(0, shared.clock.unsafeCurrentTimeMillis() - startedAt) : 0
  const call: Machine.CallRecord = {
    outcome: verdict.outcome,
    durationMillis,
    minCooldownMillis: verdict.minCooldownMillis
  }
  // An interrupted call is never counted. Effect skips this handler when it interrupts an unmasked call in Closed, so
  // counting interruptions here, on the trial's path only, would make the count depend on the state.
  if (!(Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause))) {
    Telemetry.recordCall(shared.telemetry, circuit.key, verdict.outcome)
    if (shared.options.durationMetric) Telemetry.recordDuration(shared.telemetry, circuit.key, durationMillis)
  }
  return Effect.flatMap(apply(shared, circuit, { _tag: "Record", generation, call }), (step) =>
    step.transition === undefined ? exit : Effect.zipRight(afterTransition(shared, circuit, step), exit)
  )
}

const withTimeout = <A, E, R>(
  shared: Shared,
  circuit: Circuit,
  effect: Effect.Effect<A, E, R>,
  trial: boolean
): Effect.Effect<A, E | Api.CircuitBreakerTimeout, R> => {
  const millis = trial ? shared.options.trialTimeoutMillis : shared.options.callTimeoutMillis
  if (millis === undefined) {
    return effect
  }

  const timeout = Duration.millis(millis)
  return Effect.timeoutFail(effect, {
    duration: timeout,
    onTimeout: () =>
      new CircuitBreakerTimeout({
        breakerName: shared.options.name,
        ...(circuit.key === undefined ? {} : { key: circuit.key }),
        timeout,
        trial
      })
  })
}

/**
 * Runs an admitted call and records its outcome. `restore` makes the call interruptible when admission ran under a
 * mask, and `undefined` otherwise. Called from the continuation of admission, so while the calling fiber runs:
 * the clock is read and the span found at admission, not when the effect was built.
 */
const runAdmitted = <A, E, R>(
  shared: Shared,
  circuit: Circuit,
  effect: Effect.Effect<A, E, R>,
  step: Machine.Step<Machine.Admission>,
  admission: Extract<Machine.Admission, { admitted: true }>,
  restore: (<A1, E1, R1>(effect: Effect.Effect<A1, E1, R1>) => Effect.Effect<A1, E1, R1>) | undefined
): Effect.Effect<A, E | Api.CircuitBreakerError, R> => {
  Telemetry.annotateSpan(shared.telemetry, circuit.key, step.state._tag)
  const startedAt = shared.timesCalls ? shared.clock.unsafeCurrentTimeMillis() : 0
  const generation = admission.generation
  const timed = withTimeout(shared, circuit, effect, admission.trial)
  // Unmasked, the handlers run interruptibly, so a record that may open the circuit is made uninterruptible: the
  // step that opens it and the one that schedules the cooldown's end must both run. A success under a policy without
  // windows cannot open a Closed circuit, and skips that cost.
  const unmasked = restore === undefined
  const settle = <B, F>(exit: Exit.Exit<B, F>) => {
    const recorded = record(shared, circuit, generation, startedAt, exit)
    const mayOpen = Exit.isFailure(exit) || shared.successMayTransition
    return unmasked && mayOpen ? Effect.uninterruptible(recorded) : recorded
  }
  // One handler pair for success and failure: `Effect.onExit` would add a second mask.
  const run = Effect.matchCauseEffect(restore === undefined ? timed : restore(timed), {
    onFailure: (cause) => settle(Exit.failCause(cause)),
    onSuccess: (value) => settle(Exit.succeed(value))
  })
  return step.transition === undefined ? run : Effect.zipRight(afterTransition(shared, circuit, step), run)
}

/**
 * Admits under a mask, so that an interruption can never land between taking a trial slot and installing the
 * handler that gives it back. Only the user's effect runs interruptibly.
 */
const protectMasked = <A, E, R>(
  shared: Shared,
  circuit: Circuit,
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E | Api.CircuitBreakerError, R> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.flatMap(apply<Machine.Admission>(shared, circuit, admitOperation), (step) => {
      const admission = step.result
      return admission.admitted
        ? runAdmitted(shared, circuit, effect, step, admission, restore)
        : reject(shared, circuit, admission)
    })
  )

/**
 * Runs `effect` through one circuit: admission, the call under its timeout, and the record of its outcome and
 * duration.
 *
 * A store in this process first tries an admission that takes no trial slot. That needs no mask, because in Closed
 * the call takes nothing that an interruption could leak. Only an admission that would take the trial slot runs
 * under the mask.
 *
 * NOTE: Effect skips the failure handler of an unmasked call whose fiber is interrupted, so a custom HTTP `classify`
 * is never called for such a call. In Closed the machine ignores an interruption anyway, so the state is the same
 * either way.
 *
 * @internal
 */
export const protect = <A, E, R>(
  shared: Shared,
  circuit: Circuit,
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E | Api.CircuitBreakerError, R> => {
  const admitWithoutSlot = shared.admitWithoutSlot
  if (admitWithoutSlot === undefined) {
    return protectMasked(shared, circuit, effect)
  }
  return Effect.flatMap(admitWithoutSlot(circuit.storeKey), (step) => {
    if (step === undefined) {
      return protectMasked(shared, circuit, effect)
    }
    const admission = step.result
    return admission.admitted
      ? runAdmitted(shared, circuit, effect, step, admission, undefined)
      : reject(shared, circuit, admission)
  })
}

/**
 * Reads the public state of one circuit, moving it to HalfOpen first when its cooldown has ended.
 *
 * @internal
 */
export const state = (shared: Shared, circuit: Circuit): Effect.Effect<Api.State> =>
  Effect.flatMap(apply(shared, circuit, observeOperation), (step) =>
    Effect.as(
      afterTransition(shared, circuit, step),
      toPublicState(step.state, shared.clock.unsafeCurrentTimeMillis(), shared.policy)
    )
  )

/**
 * Ends the cooldown of one circuit when its timer fires; a timer from an earlier opening changes nothing.
 *
 * @internal
 */
export const cooldownElapsed = (shared: Shared, circuit: Circuit, generation: number): Effect.Effect<void> =>
  Effect.flatMap(apply(shared, circuit, { _tag: "CooldownElapsed", generation }), (step) =>
    afterTransition(shared, circuit, step)
  )

/**
 * Applies an operator's command to one circuit.
 *
 * @internal
 */
export const command = (shared: Shared, circuit: Circuit, command: Machine.Command): Effect.Effect<void> =>
  Effect.flatMap(apply(shared, circuit, { _tag: "Command", command }), (step) => afterTransition(shared, circuit, step))
