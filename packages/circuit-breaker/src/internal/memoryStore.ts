import * as Effect from "effect/Effect"
import * as Ref from "effect/Ref"
import type * as Store from "../Store.js"
import * as Machine from "./machine.js"

interface Entry {
  readonly key: string
  state: Machine.MachineState
  /** Epoch milliseconds of the last step that touched this circuit. */
  lastUsed: number
  older: Entry | undefined
  newer: Entry | undefined
}

/** How many of the least recently used circuits one insertion looks at, to drop idle ones or find one to evict. */
const scanLimit = 16

/**
 * The stored circuits of a keyed breaker: a `Map` for lookup and a doubly linked list from least to most recently
 * used, so that finding idle or evictable circuits never walks the whole map.
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
  oldest: Entry | undefined
  newest: Entry | undefined
  /** Called with the state of every circuit dropped or evicted, to keep the state gauges right. */
  readonly onDrop: (state: Machine.MachineState) => void
}

const unlink = (circuits: Circuits, entry: Entry): void => {
  if (entry.older === undefined) circuits.oldest = entry.newer
  else entry.older.newer = entry.newer
  if (entry.newer === undefined) circuits.newest = entry.older
  else entry.newer.older = entry.older
  entry.older = undefined
  entry.newer = undefined
}

const linkNewest = (circuits: Circuits, entry: Entry): void => {
  entry.older = circuits.newest
  entry.newer = undefined
  if (circuits.newest === undefined) circuits.oldest = entry
  else circuits.newest.newer = entry
  circuits.newest = entry
}

const remove = (circuits: Circuits, entry: Entry): void => {
  unlink(circuits, entry)
  circuits.entries.delete(entry.key)
  circuits.onDrop(entry.state)
}

// An Open circuit counts as used until its cooldown ends, so idleness never cuts a cooldown short or drops the circuit
// before its trial could run.
const isIdle = (entry: Entry, now: number, limits: Store.MemoryLimits): boolean => {
  const state = entry.state
  const usedUntil = state._tag === "Open" ? Math.max(entry.lastUsed, state.openUntil) : entry.lastUsed
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

const isDroppable = (entry: Entry, now: number, limits: Store.MemoryLimits): boolean =>
  isIdle(entry, now, limits) && canDropWhenIdle(entry)

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
  let entry = circuits.oldest
  for (let scanned = 0; entry !== undefined && scanned < scanLimit; scanned++) {
    const newer: Entry | undefined = entry.newer
    if (isDroppable(entry, now, limits)) remove(circuits, entry)
    entry = newer
  }
}

const evictOne = (circuits: Circuits): void => {
  let victim: Entry | undefined
  let entry = circuits.oldest
  for (let scanned = 0; entry !== undefined && scanned < scanLimit; scanned++) {
    if (victim === undefined || evictionRank(entry) < evictionRank(victim)) {
      victim = entry
      if (evictionRank(entry) === 0) break
    }
    entry = entry.newer
  }
  if (victim !== undefined) remove(circuits, victim)
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
  Effect.map(Ref.make<Machine.MachineState>(context.policy.initial), (ref) => ({
    apply: (_key, operation, onTransition) =>
      Ref.modify(ref, (state) => {
        const step = Machine.applyOperation(state, operation, timeFor(context, state, operation), context.policy)
        if (step.transition !== undefined) onTransition(step.transition)
        return [step, step.state]
      }),
    // Admission without a slot leaves the state as it is.
    admitWithoutSlot: () =>
      Ref.modify(ref, (state) => [Machine.admitWithoutSlot(state, timeFor(context, state, withoutSlot)), state]),
    snapshot: Effect.map(Ref.get(ref), (state) => [["", state] as const]),
    size: Effect.succeed(1)
  }))

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
  if (entry !== undefined && isDroppable(entry, now, limits)) {
    remove(circuits, entry)
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
      remove(circuits, entry)
    } else {
      // A call or a change of state counts as use; a plain read of the state does not.
      const used = operation._tag === "AdmitWithoutSlot" || Machine.isCall(operation) || next !== entry.state
      entry.state = next
      if (used) {
        entry.lastUsed = now
        if (circuits.newest !== entry) {
          unlink(circuits, entry)
          linkNewest(circuits, entry)
        }
      }
    }
  } else if (next !== policy.initial) {
    dropIdle(circuits, now, limits)
    while (circuits.entries.size >= limits.maxKeys) evictOne(circuits)
    const created: Entry = { key, state: next, lastUsed: now, older: undefined, newer: undefined }
    circuits.entries.set(key, created)
    linkNewest(circuits, created)
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
    Ref.make<Circuits>({ entries: new Map(), oldest: undefined, newest: undefined, onDrop: context.onDrop }),
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
          Array.from(circuits.entries.values(), (entry) => [entry.key, entry.state] as const)
        ),
        size: Ref.modify(ref, (circuits) => {
          const now = context.clock.unsafeCurrentTimeMillis()
          for (const entry of circuits.entries.values()) {
            if (isDroppable(entry, now, limits)) remove(circuits, entry)
          }
          return [circuits.entries.size, circuits]
        })
      }
    }
  )
