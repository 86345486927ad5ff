import { describe, expect, it } from "@effect/vitest"
import { CircuitBreaker } from "@effect-resilience/circuit-breaker"
import { Effect, TestClock } from "effect"

describe("smoke", () => {
  it.scoped("opens and half-opens", () =>
    Effect.gen(function* () {
      const breaker = yield* CircuitBreaker.make({ failureThreshold: 2, cooldown: "10 seconds" })
      yield* Effect.flip(breaker.protect(Effect.fail("boom")))
      yield* Effect.flip(breaker.protect(Effect.fail("boom")))
      const rejected = yield* Effect.flip(breaker.protect(Effect.succeed(1)))
      expect(rejected._tag).toBe("CircuitBreakerOpen")
      expect((yield* breaker.state)._tag).toBe("Open")
      yield* TestClock.adjust("10 seconds")
      expect((yield* breaker.state)._tag).toBe("HalfOpen")
    })
  )
})
