import * as Effect from "effect/Effect"
import { globalValue } from "effect/GlobalValue"
import type * as Scope from "effect/Scope"
import type * as Api from "../CircuitBreaker.js"

/**
 * One breaker known to the process-wide registry: its name, and an effect that reads every circuit it holds.
 *
 * @internal
 */
export interface Registered {
  readonly name: string
  readonly snapshot: Effect.Effect<ReadonlyArray<Api.HealthEntry>>
}

// One registry per process, kept on globalThis so that two copies of this module (for example one bundled by a
// dependency) still report the same breakers.
const registry = globalValue(Symbol.for("@effect-resilience/circuit-breaker/registry"), () => new Set<Registered>())

/**
 * Adds a breaker to the registry for as long as the current scope is open.
 *
 * @internal
 */
export const register = (entry: Registered): Effect.Effect<void, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => {
      registry.add(entry)
    }),
    () =>
      Effect.sync(() => {
        registry.delete(entry)
      })
  )

/**
 * Reads every circuit of every registered breaker.
 *
 * @internal
 */
export const snapshot: Effect.Effect<Api.HealthReport> = Effect.suspend(() =>
  Effect.map(
    Effect.forEach(Array.from(registry), (entry) => entry.snapshot),
    (lists): Api.HealthReport => ({ breakers: lists.flat() })
  )
)
