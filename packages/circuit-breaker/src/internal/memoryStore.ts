import * as Effect from "effect/Effect"
import * as Ref from "effect/Ref"
import type * as Store from "../Store.js"
import * as Machine from "./machine.js"

interface Entry {
  state: Machine.MachineState
  /** The last step that touched this circuit, in units from the store's origin: a small integer (see `sinceOrigin`). */
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
  /** Milliseconds per unit of `lastUsed`. */
  readonly unitMillis: number
  /** Called with the state of every circuit dropped or evicted, to keep the state gauges right. */
  readonly onDrop: (state: Machine.MachineState) => void
}

// V8 keeps an integer of up to 30 bits inside the object, and any other number as a separate 16-byte heap number, which
// would be a tenth of an idle circuit's memory.
const smallIntegerLimit = 2 ** 30

// A unit of at most 1/2^20 of the idle time to live keeps the rounding of idle times below a millionth of it, while
// 2^30 units span at least 1,024 times the idle time to live.
const unitFor = (limits: Store.MemoryLimits): number => Math.max(1, Math.ceil(limits.idleTimeToLiveMillis / 2 ** 20))

const clamp = (units: number): number => Math.min(Math.max(units, 1 - smallIntegerLimit), smallIntegerLimit - 1) | 0

/**
 * Returns `now` in units since the origin, rounded up so that idleness is never overstated, as an integer within
 * ±2^30. When the clock has moved further from the origin, forward or back, the origin moves to `now` and every
 * entry's time with it. An entry pushed past -2^30 units had been unused for over 1,024 times the idle time to live,
 * so holding it at the bound changes no decision. One pushed past +2^30, by a clock set back, looks used earlier than
 * it was, which lets it be dropped sooner than its future time of use would.
 */
const sinceOrigin = (circuits: Circuits, now: number): number => {
  const unit = circuits.unitMillis
  const relative = Math.ceil((now - circuits.origin) / unit)
  if (relative > -smallIntegerLimit && relative < smallIntegerLimit) return relative | 0

  circuits.origin += relative * unit
  for (const entry of circuits.entries.values()) entry.lastUsed = clamp(entry.lastUsed - relative)
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
  const lastUsed = circuits.origin + entry.lastUsed * circuits.unitMillis
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
 * Admission without a trial slot (see `Machine.admitWithoutSlot`), which lets a caller skip the mask that admission
 * otherwise needs.
 *
 * @internal
 */
export type AdmitWithoutSlot = (key: string) => Effect.Effect<Machine.Step<Machine.Admission> | undefined>

// Kept apart from the store objects, so that a store that wraps a memory store, even by spreading its fields, never
// has admissions bypass its own `apply`.
const admissionsWithoutSlot = new WeakMap<Store.CircuitStore, AdmitWithoutSlot>()

/**
 * Returns the admission without a trial slot of a store made here, or `undefined` for any other store.
 *
 * @internal
 */
export const admitWithoutSlotOf = (store: Store.CircuitStore): AdmitWithoutSlot | undefined =>
  admissionsWithoutSlot.get(store)

const register = (store: Store.CircuitStore, admit: AdmitWithoutSlot): Store.CircuitStore => {
  admissionsWithoutSlot.set(store, admit)
  return store
}

/**
 * Returns the time to apply `operation` at. Reading the clock costs tens of nanoseconds, a large share of a closed,
 * succeeding call, so it is skipped where the machine does not read the time. There the time is NaN, so that a rule
 * that read it after all would leave NaN in the state, where the tests would see it.
 */
const timeFor = (
  context: Store.StoreContext,
  state: Machine.MachineState,
  operation: Machine.Operation | Machine.AdmitWithoutSlotOperation
): number => (Machine.usesTime(state, operation) ? context.clock.unsafeCurrentTimeMillis() : Number.NaN)

/**
 * The in-memory store of a single breaker: one `Ref` holding the circuit's state, changed in one `Ref.modify` per
 * operation. The transition is reported inside that step, so transitions are published in the order they happened.
 *
 * @internal
 */
export const makeSingle = (context: Store.StoreContext): Effect.Effect<Store.CircuitStore> =>
  Effect.map(Ref.make<Machine.MachineState>(context.policy.initial), (ref) => {
    // One effect for every admission, since a single breaker has one circuit. Admission without a slot leaves the
    // state as it is.
    const admission = Ref.modify(ref, (state) => [
      Machine.admitWithoutSlot(state, timeFor(context, state, Machine.admitWithoutSlotOperation)),
      state
    ])
    const store: Store.CircuitStore = {
      apply: (_key, operation, onTransition) =>
        Ref.modify(ref, (state) => {
          const step = Machine.applyOperation(state, operation, timeFor(context, state, operation), context.policy)
          if (step.transition !== undefined) onTransition(step.transition)
          return [step, step.state]
        }),
      snapshot: Effect.map(Ref.get(ref), (state) => [["", state] as const]),
      size: Effect.succeed(1)
    }
    return register(store, () => admission)
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
  operation: Machine.Operation | Machine.AdmitWithoutSlotOperation,
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
export const makeKeyed = (context: Store.StoreContext, limits: Store.MemoryLimits): Effect.Effect<Store.CircuitStore> =>
  Effect.map(
    Ref.make<Circuits>({
      entries: new Map(),
      newest: undefined,
      origin: context.clock.unsafeCurrentTimeMillis(),
      unitMillis: unitFor(limits),
      onDrop: context.onDrop
    }),
    (ref) => {
      const store: Store.CircuitStore = {
        apply: (key, operation, onTransition) =>
          Ref.modify(ref, (circuits) => {
            const step = applyKeyed(circuits, key, operation, context, limits, onTransition)!
            return [step, circuits]
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
      return register(store, (key) =>
        Ref.modify(ref, (circuits) => {
          const step = applyKeyed(circuits, key, Machine.admitWithoutSlotOperation, context, limits, ignoreTransition)
          return [step as Machine.Step<Machine.Admission> | undefined, circuits]
        })
      )
    }
  )
