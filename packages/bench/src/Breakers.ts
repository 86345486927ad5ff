/**
 * The breakers under measurement, each built with the options its rows need, in one place so that the rows of every
 * library trip on the same rule: a count of consecutive failures.
 */
import { CircuitBreaker } from "@effect-resilience/circuit-breaker"
import { CircuitState, ConsecutiveBreaker, circuitBreaker, handleAll } from "cockatiel"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as Duration4 from "effect4/Duration"
import * as Effect4 from "effect4/Effect"
import * as Exit4 from "effect4/Exit"
import { CircuitBreaker as CircuitBreaker4 } from "effect4/persistence"
import * as Scope4 from "effect4/Scope"
import Opossum from "opossum"
import { runPromise } from "./Loops.js"

/** A value built in a scope, and the function that closes that scope. */
export interface Scoped<A> {
  readonly value: A
  readonly close: () => Promise<void>
}

/** Options of a breaker that stays Closed through every row that uses it: five consecutive failures open it. */
export const closedOptions: CircuitBreaker.Options = { name: "bench", failureThreshold: 5, cooldown: "1 minute" }

/** Options of a breaker that one failure opens for an hour, so that it stays Open through the rejection rows. */
export const openOptions: CircuitBreaker.Options = { name: "bench-open", failureThreshold: 1, cooldown: "1 hour" }

/** Options of a breaker that one failure opens for 1 ms, so that each HalfOpen sample needs only a short sleep. */
export const halfOpenOptions: CircuitBreaker.Options = {
  name: "bench-half-open",
  failureThreshold: 1,
  cooldown: "1 millis"
}

export const makeBreaker = async (options: CircuitBreaker.Options): Promise<Scoped<CircuitBreaker.CircuitBreaker>> => {
  const scope = Effect.runSync(Scope.make())
  const value = await runPromise(Scope.extend(CircuitBreaker.make(options), scope))
  return { value, close: () => runPromise(Scope.close(scope, Exit.void)) }
}

/**
 * Makes a keyed breaker that can store `maxKeys` circuits and drops none for idleness during a run. By default five
 * consecutive failures open a key's circuit for a minute; `rule` replaces that.
 */
export const makeKeyed = async (
  maxKeys: number,
  rule: Pick<CircuitBreaker.Options, "failureThreshold" | "cooldown"> = closedOptions
): Promise<Scoped<CircuitBreaker.KeyedCircuitBreaker>> => {
  const scope = Effect.runSync(Scope.make())
  const options: CircuitBreaker.KeyedOptions = {
    name: "bench-keyed",
    failureThreshold: rule.failureThreshold,
    cooldown: rule.cooldown,
    idleTimeToLive: "1 hour",
    maxKeys
  }
  const value = await runPromise(Scope.extend(CircuitBreaker.keyed(options), scope))
  return { value, close: () => runPromise(Scope.close(scope, Exit.void)) }
}

/** Fails unless the breaker is in the expected state, since a row measured in another state would be mislabelled. */
export const expectState = async (
  breaker: CircuitBreaker.CircuitBreaker,
  expected: CircuitBreaker.State["_tag"]
): Promise<void> => {
  const state = await runPromise(breaker.state)
  if (state._tag !== expected) {
    throw new Error(`Breaker ${breaker.name} is ${state._tag}, expected ${expected}`)
  }
}

/**
 * Makes Effect 4's breaker (`effect/persistence` `CircuitBreaker`, in-memory store) with the same rule: `failures`
 * consecutive failures open a key's circuit for `openMillis` milliseconds.
 */
export const makeEffect4 = async (
  failures: number,
  openMillis: number
): Promise<Scoped<CircuitBreaker4.CircuitBreaker>> => {
  const scope = Effect4.runSync(Scope4.make())
  const value = await Effect4.runPromise(
    CircuitBreaker4.make({
      tripPolicy: CircuitBreaker4.consecutive(failures),
      openDuration: Duration4.millis(openMillis)
    }).pipe(Scope4.provide(scope), Effect4.provide(CircuitBreaker4.layerStoreMemory({ idleTimeToLive: "1 hour" })))
  )
  return { value, close: () => Effect4.runPromise(Scope4.close(scope, Exit4.void)) }
}

/** Makes a cockatiel breaker that `failures` consecutive failures open for `halfOpenAfter` milliseconds. */
export const makeCockatiel = (failures: number, halfOpenAfter: number) =>
  circuitBreaker(handleAll, { halfOpenAfter, breaker: new ConsecutiveBreaker(failures) })

export { CircuitState as CockatielState }

/**
 * Makes an opossum breaker around `action`. `timeout` is opossum's per-call timeout in milliseconds (its default is
 * 10,000) or `false` for none. `volumeThreshold: 5` keeps a breaker with fewer than five calls in its window Closed,
 * as the five-failure rule of the other breakers does.
 */
export const makeOpossum = <A>(action: () => Promise<A>, timeout: number | false): Opossum<[], A> =>
  new Opossum(action, { timeout, volumeThreshold: 5, resetTimeout: 60 * 60 * 1000 })
