/**
 * The stores in which breakers keep the state of their circuits.
 *
 * A store applies one {@link Operation} at a time to one circuit, atomically, with the rules of the breaker's state
 * machine. The in-memory store, the default, keeps each breaker's state in a `Ref` of this process. Another store (for
 * example on Redis) shares circuits between processes by applying the same rules where the state lives. Provide a
 * {@link CircuitStoreFactory} layer to choose the store of every breaker made in its scope.
 *
 * **Gotchas**
 *
 * - The store is chosen when a breaker is made: provide the store's layer to the code that makes the breaker (or to
 *   the breaker's layer), not to the code that calls `protect`.
 * - Every operation carries the caller's `Clock` time, so a shared store is only as right as the clocks of the
 *   processes that share it.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type * as Machine from "./internal/machine.js"
import * as memoryStore from "./internal/memoryStore.js"

/**
 * One step applied to a circuit: an admission, the outcome of a call, the end of a cooldown, a read, or an
 * operator's command. Plain data, so that a store can send it elsewhere.
 *
 * @example
 * ```ts
 * import type { Store } from "@effect-resilience/circuit-breaker"
 *
 * const admit: Store.Operation = { _tag: "Admit" }
 * const isolate: Store.Operation = { _tag: "Command", command: "Isolate" }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Operation = Machine.Operation

/**
 * The state of one circuit as the machine keeps it: plain data, with a `generation` that fences off late outcomes.
 *
 * @example
 * ```ts
 * import type { Store } from "@effect-resilience/circuit-breaker"
 *
 * const isRejecting = (state: Store.CircuitState) => state._tag === "Open" || state._tag === "Isolated"
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type CircuitState = Machine.MachineState

/**
 * The result of one operation: the circuit's new state, the admission (for `Admit`), and the transition it caused.
 *
 * @example
 * ```ts
 * import type { Store } from "@effect-resilience/circuit-breaker"
 *
 * const changed = (step: Store.Step) => step.transition !== undefined
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Step = Machine.Step<Machine.Admission | undefined>

/**
 * A change of state reported by a store, in the machine's terms.
 *
 * @example
 * ```ts
 * import type { Store } from "@effect-resilience/circuit-breaker"
 *
 * const describe = (transition: Store.StoreTransition) => `${transition.from} -> ${transition.to}: ${transition.reason}`
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type StoreTransition = Machine.MachineTransition

/**
 * The rules a breaker applies: trip policies, thresholds, the table of cooldowns and the initial state.
 *
 * @example
 * ```ts
 * import type { Store } from "@effect-resilience/circuit-breaker"
 *
 * const firstCooldownMillis = (policy: Store.Policy) => policy.cooldowns[0]
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Policy = Machine.Policy

/**
 * The state of the circuits of one breaker.
 *
 * @example
 * ```ts
 * import type { Store } from "@effect-resilience/circuit-breaker"
 * import { Effect } from "effect"
 *
 * const openCircuits = (store: Store.CircuitStore) =>
 *   Effect.map(store.snapshot, (circuits) => circuits.filter(([, state]) => state._tag === "Open").length)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface CircuitStore {
  /**
   * Applies `operation` to the circuit of `key` atomically: no other operation on that circuit, from this process or
   * another, may interleave with it. `onTransition` is called once with the transition, if the operation caused one.
   */
  readonly apply: (
    key: string,
    operation: Operation,
    onTransition: (transition: StoreTransition) => void
  ) => Effect.Effect<Step>
  /** Every stored circuit this store can list, as key and state. */
  readonly snapshot: Effect.Effect<ReadonlyArray<readonly [string, CircuitState]>>
  /** How many circuits are stored. */
  readonly size: Effect.Effect<number>
}

/**
 * The facts about a breaker that its store needs.
 *
 * @example
 * ```ts
 * import type { Store } from "@effect-resilience/circuit-breaker"
 *
 * const label = (context: Store.StoreContext) => (context.keyed ? `${context.name} (keyed)` : context.name)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface StoreContext {
  /** The breaker's name. */
  readonly name: string
  readonly policy: Policy
  /** Whether the breaker is keyed; a single breaker uses one circuit. */
  readonly keyed: boolean
  /** The `Clock` of the context the breaker was made in; operations are applied at its time. */
  readonly clock: { unsafeCurrentTimeMillis(): number }
  /** Limits on stored circuits, for keyed breakers. */
  readonly limits: MemoryLimits | undefined
  /** Called with the state of every circuit the store drops, so that metrics stay right. */
  readonly onDrop: (state: CircuitState) => void
}

/**
 * Bounds on the circuits a keyed breaker stores: idle circuits are dropped, and at most `maxKeys` are kept.
 *
 * @example
 * ```ts
 * import type { Store } from "@effect-resilience/circuit-breaker"
 *
 * const limits: Store.MemoryLimits = { idleTimeToLiveMillis: 600_000, maxKeys: 10_000 }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface MemoryLimits {
  readonly idleTimeToLiveMillis: number
  readonly maxKeys: number
}

/**
 * Makes the store of each breaker.
 *
 * @example
 * ```ts
 * import { Store } from "@effect-resilience/circuit-breaker"
 *
 * // A factory that logs each breaker it serves and then keeps its state in memory.
 * const logged: Store.CircuitStoreFactory = {
 *   make: (context) => {
 *     console.log(`store for ${context.name}`)
 *     return Store.memory.make(context)
 *   }
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface CircuitStoreFactory {
  readonly make: (context: StoreContext) => Effect.Effect<CircuitStore, never, Scope.Scope>
}

/**
 * The service tag of the store factory. Breakers made where none is provided keep their state in memory.
 *
 * @example
 * ```ts
 * import { CircuitBreaker, Store } from "@effect-resilience/circuit-breaker"
 * import { Effect } from "effect"
 *
 * const breaker = CircuitBreaker.make({ failureThreshold: 5, cooldown: "30 seconds" }).pipe(
 *   Effect.provideService(Store.CircuitStoreFactory, Store.memory)
 * )
 * ```
 *
 * @since 0.1.0
 * @category tags
 */
export const CircuitStoreFactory: Context.Tag<CircuitStoreFactory, CircuitStoreFactory> =
  Context.GenericTag<CircuitStoreFactory>("@effect-resilience/circuit-breaker/Store/CircuitStoreFactory")

/**
 * The in-memory store: one `Ref` per single breaker, and for a keyed breaker one `Ref` over a bounded map of
 * circuits.
 *
 * @example
 * ```ts
 * import { Store } from "@effect-resilience/circuit-breaker"
 *
 * const factory: Store.CircuitStoreFactory = Store.memory
 * ```
 *
 * @since 0.1.0
 * @category stores
 */
export const memory: CircuitStoreFactory = {
  make: (context) =>
    context.keyed && context.limits !== undefined
      ? memoryStore.makeKeyed(context, context.limits)
      : memoryStore.makeSingle(context)
}

/**
 * Provides the in-memory store, the default.
 *
 * @example
 * ```ts
 * import { CircuitBreaker, Store } from "@effect-resilience/circuit-breaker"
 * import { Layer } from "effect"
 *
 * const Breaker = CircuitBreaker.layer({ failureThreshold: 5, cooldown: "30 seconds" }).pipe(
 *   Layer.provide(Store.layerMemory)
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<CircuitStoreFactory> = Layer.succeed(CircuitStoreFactory, memory)
