import * as Effect from "effect/Effect"
import * as Ref from "effect/Ref"
import type * as Store from "../Store.js"
import * as Machine from "./machine.js"

interface Entry {
  state: Machine.MachineState
  /**
   * Milliseconds from the store's origin to the last step that touched this circuit, a small integer (see
   * `sinceOrigin`).
   */
  lastUsed: number
}

/** How many of the least recently used circuits one insertion looks at, to drop idle ones or find one to evict. */
const scanLimit = 16

/**
 * The stored circuits of a keyed breaker: a `Map` whose insertion order runs from least to most recently used, since a
 * use moves its entry to the end. Finding idle or evictable circuits reads only the first few entries and never walks
 * the whole map.
 *
 * A circuit is stored only while its state differs from the initial Closed state, so keys whose calls succeed cost no
 * memory. Every change happens inside one `Ref.modify` on this structure, which is mutated in place there: a
 * persistent map would allocate on every call, and the update is still atomic because `Ref.modify` runs its function
 * synchronously.
 *
 * @internal
 */
interface Circuits {
  readonly entries: Map<string, Entry>
  /** The key used last, which a use need not move. */
  newest: string | undefined
  /** Epoch milliseconds that `lastUsed` counts from. */
  origin: number
  /** Called with the state of every circuit dropped or evicted, to keep the state gauges right. */
  readonly onDrop: (state: Machine.MachineState) => void
}

// V8 keeps an integer of up to 30 bits inside the object, and any other number as a separate 16-byte heap number, which
// would be a tenth of an idle circuit's memory. Relative times stay in range for 12 days, and then the origin moves.
const smallIntegerLimit = 2 ** 30

/**
 * Returns `now` as milliseconds since the origin, an integer below 2^30. When `now` reaches that far, the origin moves
 * up to `now` and every entry's time moves back with it, once every 12 days. A time that would fall below -2^30
 * stops there, which can only make an entry unused for longer than 12 days look more recently used.
 */
const sinceOrigin = (circuits: Circuits, now: number): number => {
  const relative = Math.floor(now - circuits.origin)
  // A clock set back by more than 12 days ends at the same bound.
  if (relative < smallIntegerLimit) return Math.max(relative, -smallIntegerLimit) | 0

  circuits.origin += relative
  for (const entry of circuits.entries.values()) {
    entry.lastUsed = Math.max(entry.lastUsed - relative, -smallIntegerLimit) | 0
  }
  return 0
}

const remove = (circuits: Circuits, key: string, entry: Entry): void => {
  circuits.entries.delete(key)
  circuits.onDrop(entry.state)
}

const touch = (circuits: Circuits, key: string, entry: Entry, now: number): void => {
  entry.lastUsed = sinceOrigin(circuits, now)
  if (circuits.newest !== key) {
    circuits.entries.delete(key)
    circuits.entries.set(key, entry)
    circuits.newest = key
  }
}

// An Open circuit counts as used until its cooldown ends, so idleness never cuts a cooldown short or drops the circuit
// before its trial could run.
const isIdle = (circuits: Circuits, entry: Entry, now: number, limits: Store.MemoryLimits): boolean => {
  const state = entry.state
  const lastUsed = circuits.origin + entry.lastUsed
  const usedUntil = state._tag === "Open" ? Math.max(lastUsed, state.openUntil) : lastUsed
  return now - usedUntil > limits.idleTimeToLiveMillis
}

// A HalfOpen circuit whose trial runs must outlive idleness, since dropping it would let a second call through while
// the trial decides. An operator's isolate or disable holds until a reset, however long the key goes unused.
const canDropWhenIdle = (entry: Entry): boolean => {
  const state = entry.state
  switch (state._tag) {
    case "HalfOpen":
      return !state.trialRunning
    case "Isolated":
    case "Disabled":
      return false
    default:
      return true
  }
}

const isDroppable = (circuits: Circuits, entry: Entry, now: number, limits: Store.MemoryLimits): boolean =>
  isIdle(circuits, entry, now, limits) && canDropWhenIdle(entry)

// Lower ranks are evicted first when the map is full: Closed, then HalfOpen with no trial, then Open, then a running
// trial, and an operator's isolate or disable last.
const evictionRank = (entry: Entry): number => {
  const state = entry.state
  switch (state._tag) {
    case "Closed":
      return 0
    case "HalfOpen":
      return state.trialRunning ? 3 : 1
    case "Open":
      return 2
    case "Isolated":
    case "Disabled":
      return 4
  }
}

const dropIdle = (circuits: Circuits, now: number, limits: Store.MemoryLimits): void => {
  let scanned = 0
  // Deleting the current entry while iterating a Map is safe: iteration goes on with the next one.
  for (const [key, entry] of circuits.entries) {
    if (scanned++ === scanLimit) break
    if (isDroppable(circuits, entry, now, limits)) remove(circuits, key, entry)
  }
}

const evictOne = (circuits: Circuits): void => {
  let victimKey: string | undefined
  let victim: Entry | undefined
  let scanned = 0
  for (const [key, entry] of circuits.entries) {
    if (scanned++ === scanLimit) break
    if (victim === undefined || evictionRank(entry) < evictionRank(victim)) {
      victimKey = key
      victim = entry
      if (evictionRank(entry) === 0) break
    }
  }
  if (victimKey !== undefined && victim !== undefined) remove(circuits, victimKey, victim)
}

/**
 * A store whose state lives in this process, so that it can also admit a call without taking a trial slot (see
 * `Machine.admitWithoutSlot`): a caller may then skip the mask that admission otherwise needs.
 *
 * @internal
 */
export interface LocalStore extends Store.CircuitStore {
  readonly admitWithoutSlot: (key: string) => Effect.Effect<Machine.Step<Machine.Admission> | undefined>
}

/** @internal */
export const isLocal = (store: Store.CircuitStore): store is LocalStore => "admitWithoutSlot" in store

// Stands for `Machine.admitWithoutSlot` where an operation is expected.
const withoutSlot = { _tag: "AdmitWithoutSlot" } as const

/**
 * Returns the time to apply `operation` at. Reading the clock costs tens of nanoseconds, a large share of a closed,
 * succeeding call, so it is skipped where the machine does not read the time. There the time is NaN, so that a rule
 * that read it after all would leave NaN in the state, where the tests would see it.
 */
const timeFor = (
  context: Store.StoreContext,
  state: Machine.MachineState,
  operation: Machine.Operation | typeof withoutSlot
): number => (Machine.usesTime(state, operation) ? context.clock.unsafeCurrentTimeMillis() : Number.NaN)

/**
 * The in-memory store of a single breaker: one `Ref` holding the circuit's state, changed in one `Ref.modify` per
 * operation. The transition is reported inside that step, so transitions are published in the order they happened.
 *
 * @internal
 */
export const makeSingle = (context: Store.StoreContext): Effect.Effect<LocalStore> =>
  Effect.map(Ref.make<Machine.MachineState>(context.policy.initial), (ref) => {
    // One effect for every admission, since a single breaker has one circuit. Admission without a slot leaves the
    // state as it is.
    const admission = Ref.modify(ref, (state) => [
      Machine.admitWithoutSlot(state, timeFor(context, state, withoutSlot)),
      state
    ])
    return {
      apply: (_key, operation, onTransition) =>
        Ref.modify(ref, (state) => {
          const step = Machine.applyOperation(state, operation, timeFor(context, state, operation), context.policy)
          if (step.transition !== undefined) onTransition(step.transition)
          return [step, step.state]
        }),
      admitWithoutSlot: () => admission,
      snapshot: Effect.map(Ref.get(ref), (state) => [["", state] as const]),
      size: Effect.succeed(1)
    }
  })

// `admitWithoutSlot` never causes a transition.
const ignoreTransition = (): void => {}

/**
 * Applies one operation to the circuit of `key`, inside the caller's `Ref.modify`. Returns `undefined`, and changes
 * nothing but dropping an idle circuit, when `admitWithoutSlot` declines.
 */
const applyKeyed = (
  circuits: Circuits,
  key: string,
  operation: Machine.Operation | typeof withoutSlot,
  context: Store.StoreContext,
  limits: Store.MemoryLimits,
  onTransition: (transition: Machine.MachineTransition) => void
): Machine.Step<Machine.Admission | undefined> | undefined => {
  const policy = context.policy
  const now = context.clock.unsafeCurrentTimeMillis()
  let entry = circuits.entries.get(key)
  if (entry !== undefined && isDroppable(circuits, entry, now, limits)) {
    remove(circuits, key, entry)
    entry = undefined
  }

  const state = entry?.state ?? policy.initial
  const step =
    operation._tag === "AdmitWithoutSlot"
      ? Machine.admitWithoutSlot(state, now)
      : Machine.applyOperation(state, operation, now, policy)
  if (step === undefined) return undefined
  if (step.transition !== undefined) onTransition(step.transition)
  const next = step.state
  if (entry !== undefined) {
    // Only the initial state itself is dropped: a Closed circuit of a later generation must stay, so that calls
    // admitted before it last opened stay fenced off.
    if (next === policy.initial) {
      remove(circuits, key, entry)
    } else {
      // A call or a change of state counts as use; a plain read of the state does not.
      const used = operation._tag === "AdmitWithoutSlot" || Machine.isCall(operation) || next !== entry.state
      entry.state = next
      if (used) touch(circuits, key, entry, now)
    }
  } else if (next !== policy.initial) {
    dropIdle(circuits, now, limits)
    while (circuits.entries.size >= limits.maxKeys) evictOne(circuits)
    circuits.entries.set(key, { state: next, lastUsed: sinceOrigin(circuits, now) })
    circuits.newest = key
  }
  return step
}

/**
 * The in-memory store of a keyed breaker. Every operation is one `Ref.modify` on the whole structure, which is
 * mutated in place there: a persistent map would allocate on every call, and the update is still atomic because
 * `Ref.modify` runs its function synchronously.
 *
 * NOTE: a circuit dropped while a call was in flight is replaced by a fresh one whose generations start again at 0,
 * so that call's outcome may count in the fresh circuit. Only idle circuits are dropped, and eviction prefers Closed
 * ones; a circuit with a running trial is evicted only when every scanned circuit has one.
 *
 * @internal
 */
export const makeKeyed = (context: Store.StoreContext, limits: Store.MemoryLimits): Effect.Effect<LocalStore> =>
  Effect.map(
    Ref.make<Circuits>({
      entries: new Map(),
      newest: undefined,
      origin: context.clock.unsafeCurrentTimeMillis(),
      onDrop: context.onDrop
    }),
    (ref) => {
      return {
        apply: (key, operation, onTransition) =>
          Ref.modify(ref, (circuits) => {
            const step = applyKeyed(circuits, key, operation, context, limits, onTransition)!
            return [step, circuits]
          }),
        admitWithoutSlot: (key) =>
          Ref.modify(ref, (circuits) => {
            const step = applyKeyed(circuits, key, withoutSlot, context, limits, ignoreTransition)
            return [step as Machine.Step<Machine.Admission> | undefined, circuits]
          }),
        snapshot: Effect.map(Ref.get(ref), (circuits) =>
          Array.from(circuits.entries, ([key, entry]) => [key, entry.state] as const)
        ),
        size: Ref.modify(ref, (circuits) => {
          const now = context.clock.unsafeCurrentTimeMillis()
          for (const [key, entry] of circuits.entries) {
            if (isDroppable(circuits, entry, now, limits)) remove(circuits, key, entry)
          }
          return [circuits.entries.size, circuits]
        })
      }
    }
  )
