import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Ref from "effect/Ref"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Api from "../CircuitBreaker.js"
import * as Circuit from "./circuit.js"
import { healthEntry, makeShared, resolveOrDie } from "./circuitBreaker.js"
import type * as Machine from "./machine.js"
import * as Options from "./options.js"
import * as Registry from "./registry.js"
import * as Telemetry from "./telemetry.js"

/** @internal */
export const KeyedTypeId: typeof Api.KeyedTypeId = Symbol.for(
  "@effect-resilience/circuit-breaker/KeyedCircuitBreaker"
) as any

/** @internal */
export const tag = Context.GenericTag<Api.KeyedCircuitBreaker>("@effect-resilience/circuit-breaker/KeyedCircuitBreaker")

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
export interface Circuits {
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
const isIdle = (entry: Entry, now: number, options: Options.ResolvedKeyedOptions): boolean => {
  const state = entry.state
  const usedUntil = state._tag === "Open" ? Math.max(entry.lastUsed, state.openUntil) : entry.lastUsed
  return now - usedUntil > options.idleTimeToLiveMillis
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

const isDroppable = (entry: Entry, now: number, options: Options.ResolvedKeyedOptions): boolean =>
  isIdle(entry, now, options) && canDropWhenIdle(entry)

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

const dropIdle = (circuits: Circuits, now: number, options: Options.ResolvedKeyedOptions): void => {
  let entry = circuits.oldest
  for (let scanned = 0; entry !== undefined && scanned < scanLimit; scanned++) {
    const newer: Entry | undefined = entry.newer
    if (isDroppable(entry, now, options)) remove(circuits, entry)
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
 * Returns the circuit for `key`, reading and writing the shared structure atomically.
 *
 * NOTE: a circuit dropped while a call was in flight is replaced by a fresh one whose generations start again at 0,
 * so that call's outcome may count in the fresh circuit. Only idle circuits are dropped, and eviction prefers Closed
 * ones; a circuit with a running trial is evicted only when every scanned circuit has one.
 *
 * @internal
 */
export const circuit = (
  ref: Ref.Ref<Circuits>,
  options: Options.ResolvedKeyedOptions,
  policy: Machine.Policy,
  clock: { unsafeCurrentTimeMillis(): number },
  key: string
): Circuit.Circuit => ({
  key,
  modify: (f, use) =>
    Ref.modify(ref, (circuits) => {
      const now = clock.unsafeCurrentTimeMillis()
      let entry = circuits.entries.get(key)
      if (entry !== undefined && isDroppable(entry, now, options)) {
        remove(circuits, entry)
        entry = undefined
      }

      const [result, next] = f(entry?.state ?? policy.initial, now)
      if (entry !== undefined) {
        // Only the initial state itself is dropped: a Closed circuit of a later generation must stay, so that calls
        // admitted before it last opened stay fenced off.
        if (next === policy.initial) {
          remove(circuits, entry)
        } else {
          // A call or a change of state counts as use; a plain read of the state does not.
          const used = use || next !== entry.state
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
        dropIdle(circuits, now, options)
        while (circuits.entries.size >= options.maxKeys) evictOne(circuits)
        const created: Entry = { key, state: next, lastUsed: now, older: undefined, newer: undefined }
        circuits.entries.set(key, created)
        linkNewest(circuits, created)
      }
      return [result, circuits]
    })
})

/**
 * Makes a keyed breaker from validated options, with `classify` deciding what each call's exit counts as.
 *
 * @internal
 */
export const makeResolved = (
  options: Options.ResolvedKeyedOptions,
  classify?: Circuit.Classifier
): Effect.Effect<Api.KeyedCircuitBreaker, never, Scope.Scope> =>
  Effect.gen(function* () {
    const clock = yield* Effect.clock
    const policy = yield* Options.buildPolicy(options)
    // Set once the shared parts exist, which need `circuitOf` first; a drop can only happen after that.
    let telemetry: Telemetry.Telemetry | undefined
    const ref = yield* Ref.make<Circuits>({
      entries: new Map(),
      oldest: undefined,
      newest: undefined,
      onDrop: (state) => {
        if (telemetry !== undefined) Telemetry.recordDrop(telemetry, state._tag)
      }
    })
    const circuitOf = (key: string) => circuit(ref, options, policy, clock, key)
    const shared = yield* makeShared(options, policy, circuitOf, { keyed: true, byKey: options.metricsByKey }, classify)
    telemetry = shared.telemetry

    yield* Registry.register({
      name: options.name,
      snapshot: Effect.map(Ref.get(ref), (circuits) => {
        const now = clock.unsafeCurrentTimeMillis()
        return Array.from(circuits.entries.values(), (entry) => healthEntry(shared, entry.key, entry.state, now))
      })
    })

    const protect: Api.KeyedCircuitBreaker["protect"] = dual(
      2,
      <A, E, R>(effect: Effect.Effect<A, E, R>, key: string) => Circuit.protect(shared, circuitOf(key), effect)
    )

    const keyedBreaker: Api.KeyedCircuitBreaker = {
      [KeyedTypeId]: KeyedTypeId,
      name: options.name,
      protect,
      state: (key) => Circuit.state(shared, circuitOf(key)),
      transitions: Stream.fromPubSub(shared.pubsub),
      size: Ref.modify(ref, (circuits) => {
        const now = clock.unsafeCurrentTimeMillis()
        for (const entry of circuits.entries.values()) {
          if (isDroppable(entry, now, options)) remove(circuits, entry)
        }
        return [circuits.entries.size, circuits]
      }),
      isolate: (key) => Circuit.command(shared, circuitOf(key), "Isolate"),
      reset: (key) => Circuit.command(shared, circuitOf(key), "Reset"),
      disable: (key) => Circuit.command(shared, circuitOf(key), "Disable")
    }
    return keyedBreaker
  })

/** @internal */
export const make = (options: Api.KeyedOptions): Effect.Effect<Api.KeyedCircuitBreaker, never, Scope.Scope> =>
  Effect.suspend(() => resolveOrDie(Options.resolveKeyed(options), (resolved) => makeResolved(resolved)))

/** @internal */
export const layer = (options: Api.KeyedOptions): Layer.Layer<Api.KeyedCircuitBreaker> =>
  Layer.scoped(tag, make(options))
