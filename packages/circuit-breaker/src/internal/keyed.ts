import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Api from "../CircuitBreaker.js"
import * as Circuit from "./circuit.js"
import { healthEntry, makeShared, resolveOrDie } from "./circuitBreaker.js"
import * as Options from "./options.js"
import * as Registry from "./registry.js"

/** @internal */
export const KeyedTypeId: typeof Api.KeyedTypeId = Symbol.for(
  "@effect-resilience/circuit-breaker/KeyedCircuitBreaker"
) as any

/** @internal */
export const tag = Context.GenericTag<Api.KeyedCircuitBreaker>("@effect-resilience/circuit-breaker/KeyedCircuitBreaker")

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
    const policy = yield* Options.buildPolicy(options)
    const limits = { idleTimeToLiveMillis: options.idleTimeToLiveMillis, maxKeys: options.maxKeys }
    const circuitOf = Circuit.keyed
    const shared = yield* makeShared(
      options,
      policy,
      circuitOf,
      { keyed: true, byKey: options.metricsByKey },
      limits,
      classify
    )

    yield* Registry.register({
      name: options.name,
      snapshot: Effect.map(shared.store.snapshot, (circuits) => {
        const now = shared.clock.unsafeCurrentTimeMillis()
        return circuits.map(([key, state]) => healthEntry(shared, key, state, now))
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
      size: shared.store.size,
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
