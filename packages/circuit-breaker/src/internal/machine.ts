/**
 * The breaker's rules as pure functions over plain data: no Effect, no Clock, no I/O.
 *
 * Every function takes the current state and the time in epoch milliseconds, and returns the next state (the same
 * object when nothing changed, so a store can skip the write) together with the transition it caused, if any.
 *
 * Fencing: `generation` grows by one at every transition and at every trial admission. A call is admitted with the
 * generation current at that moment, and its outcome counts only while that generation is still current. So a call
 * admitted before the breaker opened, or a trial that was superseded, never changes the state when it finishes late.
 */
import * as Window from "./window.js"

export type StateTag = "Closed" | "Open" | "HalfOpen" | "Isolated" | "Disabled"

export type MachineState = Closed | Open | HalfOpen | Isolated | Disabled

/**
 * The cooldown backoff's memory across states: how many times the breaker opened in the current run of
 * openings, and when and for how long it was last open. One period of being open runs from a Closed→Open transition
 * to the next close, across any reopenings from HalfOpen in between.
 */
export interface Backoff {
  /** Openings since the count last reset; the next cooldown is the one for this count. */
  readonly openings: number
  /** Epoch milliseconds at which the current (or last) period of being open began. */
  readonly openSince: number
  /** How long the last period of being open lasted, from its Closed→Open transition to the close, in milliseconds. */
  readonly lastOpenMillis: number
  /** Epoch milliseconds at which the breaker last closed. */
  readonly closedAt: number
}

// The backoff is a separate object, shared by every circuit that never opened, so that an idle keyed circuit costs
// one small object: a flat state of eight fields took about 40 more bytes per key.
export interface Closed {
  readonly _tag: "Closed"
  readonly generation: number
  readonly consecutiveFailures: number
  /** One window per trip policy, in the policy's order; `undefined` for policies that need none. */
  readonly windows: ReadonlyArray<Window.Window | undefined>
  readonly backoff: Backoff
}

export interface Open {
  readonly _tag: "Open"
  readonly generation: number
  /** Epoch milliseconds at which the breaker opened. */
  readonly openedAt: number
  /** Epoch milliseconds at which the cooldown ends and a trial may run. */
  readonly openUntil: number
  readonly backoff: Backoff
}

export interface HalfOpen {
  readonly _tag: "HalfOpen"
  readonly generation: number
  readonly trialRunning: boolean
  readonly trialSuccesses: number
  readonly backoff: Backoff
}

/** Held open by an operator until a reset. */
export interface Isolated {
  readonly _tag: "Isolated"
  readonly generation: number
  readonly since: number
}

/** Admits every call and never opens, until a reset. */
export interface Disabled {
  readonly _tag: "Disabled"
  readonly generation: number
  readonly since: number
}

export type Trip =
  | { readonly _tag: "ConsecutiveFailures"; readonly threshold: number }
  | {
      readonly _tag: "FailureRate"
      readonly threshold: number
      readonly minimumCalls: number
      readonly window: Window.WindowSpec
    }
  | {
      readonly _tag: "SlowCallRate"
      readonly threshold: number
      readonly minimumCalls: number
      readonly slowCallMillis: number
      readonly window: Window.WindowSpec
    }

export interface Policy {
  readonly trips: ReadonlyArray<Trip>
  readonly successThreshold: number
  /** Cooldown in milliseconds for the n-th opening of a run; the last entry serves every later opening. */
  readonly cooldowns: ReadonlyArray<number>
  /** Upper bound of every cooldown, including one lengthened by a `Retry-After`. */
  readonly maxCooldownMillis: number
  /** The state a new circuit starts in; a store may skip storing a circuit whose state is this very object. */
  readonly initial: MachineState
  /** The Closed state with empty counts, which a close or a reset starts from. */
  readonly closed: Closed
}

export type Outcome = "Success" | "Failure" | "Ignored"

export type Command = "Isolate" | "Reset" | "Disable"

export interface MachineTransition {
  readonly from: StateTag
  readonly to: StateTag
  /** Epoch milliseconds of the event that caused the transition. */
  readonly at: number
  /** The cause of the change, in words for a log line. */
  readonly reason: string
}

/**
 * The result of an admission: `admitted` with the generation the call must present when it records its outcome,
 * or rejected with the state that rejected it and the remaining cooldown in milliseconds (infinite while isolated).
 */
export type Admission =
  | { readonly admitted: true; readonly generation: number; readonly trial: boolean }
  | {
      readonly admitted: false
      readonly state: "Open" | "HalfOpen" | "Isolated"
      readonly retryAfterMillis: number
    }

export interface Step<A> {
  readonly state: MachineState
  readonly result: A
  readonly transition: MachineTransition | undefined
}

/**
 * The outcome of one finished call, as the machine needs it.
 */
export interface CallRecord {
  readonly outcome: Outcome
  /** How long the call ran, in milliseconds. */
  readonly durationMillis: number
  /** The shortest cooldown the upstream asked for, in milliseconds; 0 when it asked for none. */
  readonly minCooldownMillis: number
}

/** The backoff of a circuit that never opened since it was made or reset. */
export const noBackoff: Backoff = {
  openings: 0,
  openSince: 0,
  lastOpenMillis: 0,
  closedAt: Number.NEGATIVE_INFINITY
}

// One constructor per state, each writing every field in the same order, so that all states of a kind share one
// object layout with every field inside the object.
const closedState = (
  generation: number,
  consecutiveFailures: number,
  windows: ReadonlyArray<Window.Window | undefined>,
  backoff: Backoff
): Closed => ({ _tag: "Closed", generation, consecutiveFailures, windows, backoff })

const halfOpenState = (
  generation: number,
  trialRunning: boolean,
  trialSuccesses: number,
  backoff: Backoff
): HalfOpen => ({ _tag: "HalfOpen", generation, trialRunning, trialSuccesses, backoff })

/**
 * Builds the initial state for `trips`: Closed, generation 0, empty windows.
 */
export const initialFor = (trips: ReadonlyArray<Trip>): Closed =>
  closedState(
    0,
    0,
    trips.map((trip) => (trip._tag === "ConsecutiveFailures" ? undefined : Window.empty(trip.window))),
    noBackoff
  )

const rejectedWhileTrialRuns: Admission = { admitted: false, state: "HalfOpen", retryAfterMillis: 0 }
const rejectedWhileIsolated: Admission = {
  admitted: false,
  state: "Isolated",
  retryAfterMillis: Number.POSITIVE_INFINITY
}

const step = <A>(state: MachineState, result: A, transition?: MachineTransition): Step<A> => ({
  state,
  result,
  transition
})

const transition = (from: StateTag, to: StateTag, at: number, reason: string): MachineTransition => ({
  from,
  to,
  at,
  reason
})

/**
 * Opens the breaker. The cooldown is the one for the current count of openings, at least `minCooldownMillis`, and at
 * most the policy's cap. The count starts over when the breaker opens from Closed after staying closed at least as
 * long as its last period of being open lasted.
 */
const open = (from: Closed | HalfOpen, now: number, policy: Policy, minCooldownMillis: number): Open => {
  const backoff = from.backoff
  const startsOver = from._tag === "Closed" && now - backoff.closedAt >= backoff.lastOpenMillis
  const openings = startsOver ? 0 : backoff.openings
  const scheduled = policy.cooldowns[Math.min(openings, policy.cooldowns.length - 1)]!
  const cooldown = Math.min(policy.maxCooldownMillis, Math.max(scheduled, minCooldownMillis))
  return {
    _tag: "Open",
    generation: from.generation + 1,
    openedAt: now,
    openUntil: now + cooldown,
    backoff: {
      openings: openings + 1,
      openSince: from._tag === "Closed" ? now : backoff.openSince,
      lastOpenMillis: backoff.lastOpenMillis,
      closedAt: backoff.closedAt
    }
  }
}

const closedAfter = (state: HalfOpen, now: number, policy: Policy): Closed =>
  closedState(state.generation + 1, 0, policy.closed.windows, {
    openings: state.backoff.openings,
    openSince: state.backoff.openSince,
    lastOpenMillis: now - state.backoff.openSince,
    closedAt: now
  })

/**
 * Decides whether a call may run at `now`.
 *
 * An Open breaker whose cooldown has ended moves to HalfOpen here as well as in `cooldownElapsed`, so admission is
 * right even when the cooldown timer has not run yet. The call then becomes the first trial.
 */
export const admit = (state: MachineState, now: number): Step<Admission> => {
  switch (state._tag) {
    case "Closed":
    case "Disabled":
      return step(state, { admitted: true, generation: state.generation, trial: false })

    case "Isolated":
      return step(state, rejectedWhileIsolated)

    case "Open": {
      if (now < state.openUntil) {
        return step(state, { admitted: false, state: "Open", retryAfterMillis: state.openUntil - now })
      }

      const generation = state.generation + 2
      const next = halfOpenState(generation, true, 0, state.backoff)
      return step(
        next,
        { admitted: true, generation, trial: true },
        transition("Open", "HalfOpen", now, "the cooldown ended")
      )
    }

    case "HalfOpen": {
      if (state.trialRunning) {
        return step(state, rejectedWhileTrialRuns)
      }

      const generation = state.generation + 1
      return step(halfOpenState(generation, true, state.trialSuccesses, state.backoff), {
        admitted: true,
        generation,
        trial: true
      })
    }
  }
}

/**
 * Admits or rejects a call as `admit` does, but only where that takes no trial slot and causes no transition: in
 * Closed, Disabled and Isolated, in Open before the cooldown ends, and in HalfOpen while a trial runs. Elsewhere it
 * returns `undefined`, and the caller must admit with `admit`, under a mask, since the call would hold the slot.
 */
export const admitWithoutSlot = (state: MachineState, now: number): Step<Admission> | undefined => {
  if (state._tag === "Open" ? now >= state.openUntil : state._tag === "HalfOpen" && !state.trialRunning) {
    return undefined
  }
  return admit(state, now)
}

const percent = (ratio: number): string => `${Math.round(ratio * 100)}%`

const describeWindow = (spec: Window.WindowSpec): string =>
  spec._tag === "Calls" ? `the last ${spec.size} calls` : `the last ${spec.durationMillis} ms`

/** Returns why `trip` opens the breaker now, or undefined when it does not. */
const tripReason = (trip: Trip, consecutiveFailures: number, totals: Window.Totals | undefined): string | undefined => {
  switch (trip._tag) {
    case "ConsecutiveFailures":
      if (consecutiveFailures < trip.threshold) return undefined
      return consecutiveFailures === 1 ? "1 consecutive failure" : `${consecutiveFailures} consecutive failures`

    case "FailureRate": {
      if (totals === undefined || totals.calls < trip.minimumCalls) return undefined
      const rate = totals.failures / totals.calls
      return rate >= trip.threshold
        ? `a failure rate of ${percent(rate)} over ${describeWindow(trip.window)} (${totals.failures} of ${totals.calls})`
        : undefined
    }

    case "SlowCallRate": {
      if (totals === undefined || totals.calls < trip.minimumCalls) return undefined
      const rate = totals.slowCalls / totals.calls
      return rate >= trip.threshold
        ? `a slow-call rate of ${percent(rate)} over ${describeWindow(trip.window)} (${totals.slowCalls} of ${totals.calls} took at least ${trip.slowCallMillis} ms)`
        : undefined
    }
  }
}

/** Whether the call counts as slow for `trip`; only slow-call policies have a notion of slow. */
const isSlowFor = (trip: Trip, durationMillis: number): boolean =>
  trip._tag === "SlowCallRate" && durationMillis >= trip.slowCallMillis

/**
 * Applies the outcome of a call admitted with `generation`. Outcomes from an earlier generation change nothing.
 */
export const record = (
  state: MachineState,
  generation: number,
  call: CallRecord,
  now: number,
  policy: Policy
): Step<undefined> => {
  if (generation !== state.generation || (call.outcome === "Ignored" && state._tag !== "HalfOpen")) {
    return step(state, undefined)
  }

  switch (state._tag) {
    case "Closed":
      return recordClosed(state, call, now, policy)

    case "HalfOpen":
      return state.trialRunning ? recordTrial(state, call, now, policy) : step(state, undefined)

    // Open and Isolated admit no call, so no outcome can carry their generation, and Disabled never trips.
    case "Open":
    case "Isolated":
    case "Disabled":
      return step(state, undefined)
  }
}

const recordClosed = (state: Closed, call: CallRecord, now: number, policy: Policy): Step<undefined> => {
  const failed = call.outcome === "Failure"
  const hasWindows = state.windows.some((window) => window !== undefined)

  // The common case of the default policy: a success with no failures to reset and no window to update.
  if (!failed && !hasWindows && state.consecutiveFailures === 0) {
    return step(state, undefined)
  }

  const consecutiveFailures = failed ? state.consecutiveFailures + 1 : 0
  // Back to the untouched initial state: return that very object, so that a store can drop the circuit.
  if (!hasWindows && consecutiveFailures === 0 && state.generation === 0) {
    return step(policy.closed, undefined)
  }

  const windows = hasWindows
    ? state.windows.map((window, index) => {
        const trip = policy.trips[index]!
        return window === undefined || trip._tag === "ConsecutiveFailures"
          ? window
          : Window.add(window, trip.window, failed, isSlowFor(trip, call.durationMillis), now)
      })
    : state.windows

  for (let index = 0; index < policy.trips.length; index++) {
    const trip = policy.trips[index]!
    const window = windows[index]
    const reason = tripReason(trip, consecutiveFailures, window)
    if (reason !== undefined) {
      return step(
        open(state, now, policy, call.minCooldownMillis),
        undefined,
        transition("Closed", "Open", now, reason)
      )
    }
  }

  return step(closedState(state.generation, consecutiveFailures, windows, state.backoff), undefined)
}

const slowForAnyTrip = (policy: Policy, durationMillis: number): Extract<Trip, { _tag: "SlowCallRate" }> | undefined =>
  policy.trips.find((trip): trip is Extract<Trip, { _tag: "SlowCallRate" }> => isSlowFor(trip, durationMillis))

const recordTrial = (state: HalfOpen, call: CallRecord, now: number, policy: Policy): Step<undefined> => {
  switch (call.outcome) {
    // The trial slot is freed without a verdict, so the next call becomes the trial.
    case "Ignored":
      return step(halfOpenState(state.generation, false, state.trialSuccesses, state.backoff), undefined)

    case "Success": {
      // A trial that succeeds slowly proves the upstream is still too slow for a slow-call policy.
      const slowTrip = slowForAnyTrip(policy, call.durationMillis)
      if (slowTrip !== undefined) {
        const reason = `a trial call took ${call.durationMillis} ms, at least ${slowTrip.slowCallMillis} ms`
        return step(open(state, now, policy, 0), undefined, transition("HalfOpen", "Open", now, reason))
      }

      const trialSuccesses = state.trialSuccesses + 1
      if (trialSuccesses < policy.successThreshold) {
        return step(halfOpenState(state.generation, false, trialSuccesses, state.backoff), undefined)
      }

      const reason =
        trialSuccesses === 1 ? "a trial call succeeded" : `${trialSuccesses} trial calls succeeded in a row`
      return step(closedAfter(state, now, policy), undefined, transition("HalfOpen", "Closed", now, reason))
    }

    case "Failure":
      return step(
        open(state, now, policy, call.minCooldownMillis),
        undefined,
        transition("HalfOpen", "Open", now, "a trial call failed")
      )
  }
}

/**
 * Moves an Open breaker to HalfOpen once its cooldown has ended. `generation` is the generation of the opening that
 * scheduled the timer, so a timer left over from an earlier opening changes nothing.
 */
export const cooldownElapsed = (state: MachineState, generation: number, now: number): Step<undefined> => {
  if (state._tag !== "Open" || state.generation !== generation || now < state.openUntil) {
    return step(state, undefined)
  }

  const next = halfOpenState(state.generation + 1, false, 0, state.backoff)
  return step(next, undefined, transition("Open", "HalfOpen", now, "the cooldown ended"))
}

/**
 * Reads the state at `now`, moving an Open breaker whose cooldown has ended to HalfOpen, so that a reader never sees
 * an Open state with no cooldown left.
 */
export const observe = (state: MachineState, now: number): Step<undefined> =>
  state._tag === "Open" ? cooldownElapsed(state, state.generation, now) : step(state, undefined)

// A Closed state with nothing counted and no backoff, as right after a reset: resetting it has nothing to report.
const isPristine = (state: MachineState, policy: Policy): boolean =>
  state._tag === "Closed" &&
  state.consecutiveFailures === 0 &&
  state.windows === policy.closed.windows &&
  state.backoff.openings === 0

/**
 * Applies an operator's command. `Isolate` keeps the breaker open until a reset; `Disable` admits every call and
 * never opens until a reset; `Reset` closes the breaker and clears every count, the backoff included. Isolating an
 * isolated breaker or disabling a disabled one changes nothing.
 */
export const command = (state: MachineState, command: Command, now: number, policy: Policy): Step<undefined> => {
  const generation = state.generation + 1
  switch (command) {
    case "Isolate":
    case "Disable": {
      const target = command === "Isolate" ? "Isolated" : "Disabled"
      if (state._tag === target) {
        return step(state, undefined)
      }

      const reason = command === "Isolate" ? "isolated by an operator" : "disabled by an operator"
      return step({ _tag: target, generation, since: now }, undefined, transition(state._tag, target, now, reason))
    }

    // A reset always starts a new generation, so that calls admitted before it never count after it. It publishes a
    // transition only when there was something to reset.
    case "Reset":
      return step(
        closedState(generation, 0, policy.closed.windows, noBackoff),
        undefined,
        isPristine(state, policy) ? undefined : transition(state._tag, "Closed", now, "reset by an operator")
      )
  }
}

/**
 * One step a store applies to a circuit, as plain data, so that a store outside this process (a server-side script)
 * can apply the same rules. Every operation is applied at a time `now` the caller read from its `Clock`.
 */
export type Operation =
  | { readonly _tag: "Admit" }
  | { readonly _tag: "Record"; readonly generation: number; readonly call: CallRecord }
  | { readonly _tag: "CooldownElapsed"; readonly generation: number }
  | { readonly _tag: "Observe" }
  | { readonly _tag: "Command"; readonly command: Command }

/**
 * Applies `operation` to `state`; the result is the admission for `Admit` and `undefined` otherwise.
 */
export const applyOperation = (
  state: MachineState,
  operation: Operation,
  now: number,
  policy: Policy
): Step<Admission | undefined> => {
  // `Step<undefined>` carries `undefined` as its result, so widening it to this union is sound.
  switch (operation._tag) {
    case "Admit":
      return admit(state, now)
    case "Record":
      return record(state, operation.generation, operation.call, now, policy)
    case "CooldownElapsed":
      return cooldownElapsed(state, operation.generation, now)
    case "Observe":
      return observe(state, now)
    case "Command":
      return command(state, operation.command, now, policy)
  }
}

/** The stand-in for {@link admitWithoutSlot} where a store or {@link usesTime} expects an operation. */
export interface AdmitWithoutSlotOperation {
  readonly _tag: "AdmitWithoutSlot"
}

/** The one {@link AdmitWithoutSlotOperation} value. */
export const admitWithoutSlotOperation: AdmitWithoutSlotOperation = { _tag: "AdmitWithoutSlot" }

/**
 * Whether applying `operation` to `state` reads `now`. Where it does not, a store may skip reading its clock: the
 * result is then the same for every `now`, which the machine's tests check on random sequences.
 */
export const usesTime = (state: MachineState, operation: Operation | AdmitWithoutSlotOperation): boolean => {
  switch (operation._tag) {
    case "Admit":
    case "AdmitWithoutSlot":
    case "Observe":
      return state._tag === "Open"
    case "Record":
      switch (state._tag) {
        case "Closed":
          // A success or an ignored call without windows only clears the count of consecutive failures.
          return (
            operation.generation === state.generation &&
            (operation.call.outcome === "Failure" || state.windows.some((window) => window !== undefined))
          )
        case "HalfOpen":
          return operation.generation === state.generation && state.trialRunning
        default:
          return false
      }
    case "CooldownElapsed":
    case "Command":
      return true
  }
}

/** Whether the operation is a call (admission or outcome), as opposed to a read, a timer or an operator's command. */
export const isCall = (operation: Operation): boolean => operation._tag === "Admit" || operation._tag === "Record"
