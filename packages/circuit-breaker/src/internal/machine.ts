/**
 * The breaker's rules as pure functions over plain data: no Effect, no Clock, no I/O.
 *
 * Every function takes the current state and the time in epoch milliseconds, and returns the next state (the same
 * object when nothing changed, so a store can skip the write) together with the transition it caused, if any.
 *
 * Fencing: `generation` grows by one at every transition and at every trial admission. A call is admitted with the
 * generation current at that moment, and its outcome counts only while that generation is still current. So a call
 * admitted before the breaker opened, or a trial that was superseded, never changes the state when it finishes late.
 *
 * @internal
 */

/** @internal */
export type StateTag = "Closed" | "Open" | "HalfOpen"

/** @internal */
export type MachineState = Closed | Open | HalfOpen

/** @internal */
export interface Closed {
  readonly _tag: "Closed"
  readonly generation: number
  readonly consecutiveFailures: number
}

/** @internal */
export interface Open {
  readonly _tag: "Open"
  readonly generation: number
  /** Epoch milliseconds at which the breaker opened. */
  readonly openedAt: number
  /** Epoch milliseconds at which the cooldown ends and a trial may run. */
  readonly openUntil: number
}

/** @internal */
export interface HalfOpen {
  readonly _tag: "HalfOpen"
  readonly generation: number
  readonly trialRunning: boolean
  readonly trialSuccesses: number
}

/** @internal */
export interface Policy {
  readonly failureThreshold: number
  readonly successThreshold: number
  readonly cooldownMillis: number
}

/** @internal */
export type Outcome = "Success" | "Failure" | "Ignored"

/** @internal */
export interface MachineTransition {
  readonly from: StateTag
  readonly to: StateTag
  /** Epoch milliseconds of the event that caused the transition. */
  readonly at: number
}

/**
 * The result of an admission: `admitted` with the generation the call must present when it records its outcome,
 * or rejected with the state that rejected it and the remaining cooldown in milliseconds.
 *
 * @internal
 */
export type Admission =
  | { readonly admitted: true; readonly generation: number; readonly trial: boolean }
  | { readonly admitted: false; readonly state: "Open" | "HalfOpen"; readonly retryAfterMillis: number }

/** @internal */
export interface Step<A> {
  readonly state: MachineState
  readonly result: A
  readonly transition: MachineTransition | undefined
}

/** @internal */
export const initial: Closed = { _tag: "Closed", generation: 0, consecutiveFailures: 0 }

const rejectedWhileTrialRuns: Admission = { admitted: false, state: "HalfOpen", retryAfterMillis: 0 }

// Returns `initial` itself for generation 0, so that a store can tell a circuit that needs no storage by identity.
const closed = (generation: number): Closed =>
  generation === 0 ? initial : { _tag: "Closed", generation, consecutiveFailures: 0 }

// `minCooldownMillis` lengthens the cooldown of this one opening, for an upstream that said how long to stay away.
const open = (generation: number, now: number, policy: Policy, minCooldownMillis: number): Open => ({
  _tag: "Open",
  generation,
  openedAt: now,
  openUntil: now + Math.max(policy.cooldownMillis, minCooldownMillis)
})

const step = <A>(state: MachineState, result: A, transition?: MachineTransition): Step<A> => ({
  state,
  result,
  transition
})

/**
 * Decides whether a call may run at `now`.
 *
 * An Open breaker whose cooldown has ended moves to HalfOpen here as well as in `cooldownElapsed`, so admission is
 * right even when the cooldown timer has not run yet; the call then becomes the first trial.
 *
 * @internal
 */
export const admit = (state: MachineState, now: number): Step<Admission> => {
  switch (state._tag) {
    case "Closed":
      return step(state, { admitted: true, generation: state.generation, trial: false })

    case "Open": {
      if (now < state.openUntil) {
        return step(state, { admitted: false, state: "Open", retryAfterMillis: state.openUntil - now })
      }

      const generation = state.generation + 2
      const next: HalfOpen = { _tag: "HalfOpen", generation, trialRunning: true, trialSuccesses: 0 }
      return step(next, { admitted: true, generation, trial: true }, { from: "Open", to: "HalfOpen", at: now })
    }

    case "HalfOpen": {
      if (state.trialRunning) {
        return step(state, rejectedWhileTrialRuns)
      }

      const generation = state.generation + 1
      const next: HalfOpen = { _tag: "HalfOpen", generation, trialRunning: true, trialSuccesses: state.trialSuccesses }
      return step(next, { admitted: true, generation, trial: true })
    }
  }
}

/**
 * Applies the outcome of a call admitted with `generation`. Outcomes from an earlier generation change nothing. When
 * a failure opens the breaker, the cooldown lasts at least `minCooldownMillis`.
 *
 * @internal
 */
export const record = (
  state: MachineState,
  generation: number,
  outcome: Outcome,
  now: number,
  policy: Policy,
  minCooldownMillis = 0
): Step<void> => {
  if (generation !== state.generation) {
    return step(state, undefined)
  }

  switch (state._tag) {
    case "Closed":
      return recordClosed(state, outcome, now, policy, minCooldownMillis)

    // An Open breaker admits no call, so no outcome can carry its generation.
    case "Open":
      return step(state, undefined)

    case "HalfOpen":
      return state.trialRunning ? recordTrial(state, outcome, now, policy, minCooldownMillis) : step(state, undefined)
  }
}

const recordClosed = (
  state: Closed,
  outcome: Outcome,
  now: number,
  policy: Policy,
  minCooldownMillis: number
): Step<void> => {
  switch (outcome) {
    case "Ignored":
      return step(state, undefined)

    case "Success":
      return state.consecutiveFailures === 0 ? step(state, undefined) : step(closed(state.generation), undefined)

    case "Failure": {
      const consecutiveFailures = state.consecutiveFailures + 1
      if (consecutiveFailures < policy.failureThreshold) {
        return step({ _tag: "Closed", generation: state.generation, consecutiveFailures }, undefined)
      }

      const opened = open(state.generation + 1, now, policy, minCooldownMillis)
      return step(opened, undefined, { from: "Closed", to: "Open", at: now })
    }
  }
}

const recordTrial = (
  state: HalfOpen,
  outcome: Outcome,
  now: number,
  policy: Policy,
  minCooldownMillis: number
): Step<void> => {
  switch (outcome) {
    // The trial slot is freed without a verdict, so the next call becomes the trial.
    case "Ignored":
      return step({ ...state, trialRunning: false }, undefined)

    case "Success": {
      const trialSuccesses = state.trialSuccesses + 1
      if (trialSuccesses < policy.successThreshold) {
        return step({ ...state, trialRunning: false, trialSuccesses }, undefined)
      }

      return step(closed(state.generation + 1), undefined, { from: "HalfOpen", to: "Closed", at: now })
    }

    case "Failure": {
      const reopened = open(state.generation + 1, now, policy, minCooldownMillis)
      return step(reopened, undefined, { from: "HalfOpen", to: "Open", at: now })
    }
  }
}

/**
 * Moves an Open breaker to HalfOpen once its cooldown has ended. `generation` is the generation of the opening that
 * scheduled the timer, so a timer left over from an earlier opening changes nothing.
 *
 * @internal
 */
export const cooldownElapsed = (state: MachineState, generation: number, now: number): Step<void> => {
  if (state._tag !== "Open" || state.generation !== generation || now < state.openUntil) {
    return step(state, undefined)
  }

  const next: HalfOpen = { _tag: "HalfOpen", generation: state.generation + 1, trialRunning: false, trialSuccesses: 0 }
  return step(next, undefined, { from: "Open", to: "HalfOpen", at: now })
}

/**
 * Reads the state at `now`, moving an Open breaker whose cooldown has ended to HalfOpen, so that a reader never sees
 * an Open state with no cooldown left.
 *
 * @internal
 */
export const observe = (state: MachineState, now: number): Step<void> =>
  state._tag === "Open" ? cooldownElapsed(state, state.generation, now) : step(state, undefined)
