import { describe, expect, it } from "@effect/vitest"
import { CircuitBreaker, Store } from "@effect-resilience/circuit-breaker"
import { Effect } from "effect"
import * as StoreSuite from "./StoreSuite.js"

let count = 0

StoreSuite.run("memory store", Store.layerMemory, { uniqueName: () => `memory-suite-${++count}` })

describe("wrapped memory store", () => {
  it.scoped("every admission reaches the wrapper", () =>
    Effect.gen(function* () {
      // A store that spreads the memory store's fields and wraps `apply` must see every operation, so that the
      // memory store's cheaper admission never bypasses it.
      const seen: Array<string> = []
      const factory: Store.CircuitStoreFactory = {
        make: (context) =>
          Effect.map(Store.memory.make(context), (inner) => ({
            ...inner,
            apply: (key, operation, onTransition) =>
              Effect.zipRight(
                Effect.sync(() => seen.push(operation._tag)),
                inner.apply(key, operation, onTransition)
              )
          }))
      }
      const breaker = yield* CircuitBreaker.make({ name: "wrapped", failureThreshold: 3, cooldown: "30 seconds" }).pipe(
        Effect.provideService(Store.CircuitStoreFactory, factory)
      )

      yield* breaker.protect(Effect.void)
      yield* breaker.protect(Effect.void)

      expect(seen).toEqual(["Admit", "Record", "Admit", "Record"])
    })
  )
})
