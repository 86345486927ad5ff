/**
 * The tests every circuit store must pass, run against the store a layer provides. Each store's own test file calls
 * {@link run} once, so that the in-memory store and any shared store are held to the same rules. It lives beside the
 * in-memory store's tests, and the Redis store's tests import it by path, so that no package depends on another in a
 * cycle.
 *
 * @since 0.1.0
 */

import { describe, expect, it } from "@effect/vitest"
import { CircuitBreaker, type Store } from "@effect-resilience/circuit-breaker"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import type * as Layer from "effect/Layer"
import * as Ref from "effect/Ref"
import * as TestClock from "effect/TestClock"

const cooldown = Duration.seconds(30)

const settle = Effect.repeatN(Effect.yieldNow(), 9)

const failTimes = (breaker: CircuitBreaker.CircuitBreaker, count: number) =>
  Effect.repeatN(Effect.ignore(breaker.protect(Effect.fail("503"))), count - 1)

/**
 * Options for {@link run}: a fresh breaker name per test keeps tests apart on a store shared between tests.
 *
 * @since 0.1.0
 * @category models
 */
export interface SuiteOptions {
  /** Returns a name no other test of the run uses. */
  readonly uniqueName: () => string
}

/**
 * Defines the shared store tests under `describe(title)`, each made with a store from `layer`.
 *
 * @since 0.1.0
 * @category suites
 */
export const run = <E>(title: string, layer: Layer.Layer<Store.CircuitStoreFactory, E>, options: SuiteOptions) =>
  describe(title, () => {
    const single = (extra: Partial<CircuitBreaker.Options> = {}) =>
      CircuitBreaker.make({ name: options.uniqueName(), failureThreshold: 3, cooldown, ...extra })

    it.scoped("opens at the threshold", () =>
      Effect.gen(function* () {
        const breaker = yield* single()

        yield* failTimes(breaker, 2)
        const below = yield* breaker.state
        yield* failTimes(breaker, 1)

        expect(below).toEqual({ _tag: "Closed", consecutiveFailures: 2 })
        expect(yield* breaker.state).toEqual({ _tag: "Open", remainingCooldown: cooldown })
      }).pipe(Effect.provide(layer))
    )

    it.scoped("rejects while open", () =>
      Effect.gen(function* () {
        const breaker = yield* single()
        const runs = yield* Ref.make(0)
        yield* failTimes(breaker, 3)

        const rejection = yield* Effect.flip(breaker.protect(Ref.update(runs, (n) => n + 1)))

        expect(rejection._tag).toBe("CircuitBreakerOpen")
        expect(yield* Ref.get(runs)).toBe(0)
      }).pipe(Effect.provide(layer))
    )

    it.scoped("cooldown then trial closes", () =>
      Effect.gen(function* () {
        const breaker = yield* single()
        yield* failTimes(breaker, 3)

        yield* TestClock.adjust(cooldown)
        const halfOpen = yield* breaker.state
        yield* breaker.protect(Effect.void)

        expect(halfOpen._tag).toBe("HalfOpen")
        expect(yield* breaker.state).toEqual({ _tag: "Closed", consecutiveFailures: 0 })
      }).pipe(Effect.provide(layer))
    )

    it.scoped("one trial at a time", () =>
      Effect.gen(function* () {
        const breaker = yield* single()
        yield* failTimes(breaker, 3)
        yield* TestClock.adjust(cooldown)
        const release = yield* Deferred.make<void>()
        const runs = yield* Ref.make(0)

        const calls = yield* Effect.fork(
          Effect.all(
            Array.from({ length: 20 }, () =>
              Effect.either(
                breaker.protect(
                  Effect.zipRight(
                    Ref.update(runs, (n) => n + 1),
                    Deferred.await(release)
                  )
                )
              )
            ),
            { concurrency: "unbounded" }
          )
        )
        yield* settle
        yield* Deferred.succeed(release, undefined)
        const results = yield* Fiber.join(calls)

        expect(yield* Ref.get(runs)).toBe(1)
        expect(results.filter((result) => result._tag === "Left")).toHaveLength(19)
      }).pipe(Effect.provide(layer))
    )

    it.scoped("late outcomes are fenced", () =>
      Effect.gen(function* () {
        const breaker = yield* single()
        const release = yield* Deferred.make<void>()
        const late = yield* Effect.fork(
          Effect.ignore(breaker.protect(Effect.zipRight(Deferred.await(release), Effect.fail("late"))))
        )
        yield* settle

        yield* failTimes(breaker, 3)
        yield* TestClock.adjust(cooldown)
        yield* breaker.protect(Effect.void)
        yield* Deferred.succeed(release, undefined)
        yield* Fiber.join(late)

        expect(yield* breaker.state).toEqual({ _tag: "Closed", consecutiveFailures: 0 })
      }).pipe(Effect.provide(layer))
    )

    it.scoped("concurrent failures lose none", () =>
      Effect.gen(function* () {
        const breaker = yield* single({ failureThreshold: 1_000 })

        yield* Effect.all(
          Array.from({ length: 200 }, () =>
            Effect.ignore(breaker.protect(Effect.zipRight(Effect.yieldNow(), Effect.fail("503"))))
          ),
          { concurrency: "unbounded", discard: true }
        )

        expect(yield* breaker.state).toEqual({ _tag: "Closed", consecutiveFailures: 200 })
      }).pipe(Effect.provide(layer))
    )

    it.scoped("commands apply", () =>
      Effect.gen(function* () {
        const breaker = yield* single()

        yield* breaker.isolate
        const isolated = yield* breaker.state
        yield* breaker.reset
        const reset = yield* breaker.state

        expect(isolated).toEqual({ _tag: "Isolated" })
        expect(reset).toEqual({ _tag: "Closed", consecutiveFailures: 0 })
      }).pipe(Effect.provide(layer))
    )

    it.scoped("keyed circuits are independent", () =>
      Effect.gen(function* () {
        const breakers = yield* CircuitBreaker.keyed({ name: options.uniqueName(), failureThreshold: 2, cooldown })

        yield* Effect.ignore(breakers.protect(Effect.fail("503"), "a"))
        yield* Effect.ignore(breakers.protect(Effect.fail("503"), "a"))
        yield* Effect.ignore(breakers.protect(Effect.fail("503"), "b"))

        expect((yield* breakers.state("a"))._tag).toBe("Open")
        expect(yield* breakers.state("b")).toEqual({ _tag: "Closed", consecutiveFailures: 1 })
        expect(yield* breakers.state("c")).toEqual({ _tag: "Closed", consecutiveFailures: 0 })
      }).pipe(Effect.provide(layer))
    )
  })
