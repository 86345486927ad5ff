import { assert, describe, expect, it } from "@effect/vitest"
import { CircuitBreaker } from "@effect-resilience/circuit-breaker"
import { Cause, Deferred, Duration, Effect, Exit, Fiber, Ref, Stream, TestClock } from "effect"
import { settle } from "./utils.js"

const cooldown = Duration.seconds(30)

const makeKeyed = (options: Partial<CircuitBreaker.KeyedOptions> = {}) =>
  CircuitBreaker.keyed({ name: "origins", failureThreshold: 3, cooldown, ...options })

const failKey = (breakers: CircuitBreaker.KeyedCircuitBreaker, key: string, times: number) =>
  Effect.repeatN(Effect.ignore(breakers.protect(Effect.fail("503"), key)), times - 1)

const collect = (breakers: CircuitBreaker.KeyedCircuitBreaker) =>
  Effect.gen(function* () {
    const seen = yield* Ref.make<ReadonlyArray<CircuitBreaker.Transition>>([])
    yield* breakers.transitions.pipe(
      Stream.runForEach((transition) => Ref.update(seen, (all) => [...all, transition])),
      Effect.forkScoped
    )
    yield* settle
    return Effect.zipRight(
      settle,
      Effect.map(Ref.get(seen), (all) => all.map((t) => `${t.key} ${t.from}->${t.to}`))
    )
  })

describe("keyed", () => {
  it.scoped("keys are independent", () =>
    Effect.gen(function* () {
      const breakers = yield* makeKeyed()

      yield* failKey(breakers, "https://a.example", 3)
      const other = yield* Effect.either(breakers.protect(Effect.succeed("ok"), "https://b.example"))

      expect((yield* breakers.state("https://a.example"))._tag).toBe("Open")
      expect(yield* breakers.state("https://b.example")).toEqual({ _tag: "Closed", consecutiveFailures: 0 })
      expect(other._tag).toBe("Right")
    })
  )

  it.scoped("rejection carries the key", () =>
    Effect.gen(function* () {
      const breakers = yield* makeKeyed()
      yield* failKey(breakers, "tenant-7", 3)

      const rejection = yield* Effect.flip(breakers.protect(Effect.void, "tenant-7"))

      assert.isTrue(CircuitBreaker.isCircuitBreakerOpen(rejection))
      if (!CircuitBreaker.isCircuitBreakerOpen(rejection)) return
      expect(rejection.key).toBe("tenant-7")
      expect(rejection.breakerName).toBe("origins")
      expect(Duration.toMillis(rejection.retryAfter)).toBe(30_000)
    })
  )

  it.scoped("protect is dual", () =>
    Effect.gen(function* () {
      const breakers = yield* makeKeyed()

      const dataFirst = yield* breakers.protect(Effect.succeed(1), "k")
      const dataLast = yield* Effect.succeed(2).pipe(breakers.protect("k"))

      expect(dataFirst).toBe(1)
      expect(dataLast).toBe(2)
    })
  )

  it.scoped("transitions carry their key", () =>
    Effect.gen(function* () {
      const breakers = yield* makeKeyed()
      const read = yield* collect(breakers)

      yield* failKey(breakers, "a", 3)
      yield* TestClock.adjust("10 seconds")
      yield* failKey(breakers, "b", 3)
      yield* TestClock.adjust("20 seconds")
      const afterFirstCooldown = yield* read
      yield* TestClock.adjust("10 seconds")

      expect(afterFirstCooldown).toEqual(["a Closed->Open", "b Closed->Open", "a Open->HalfOpen"])
      expect(yield* read).toEqual(["a Closed->Open", "b Closed->Open", "a Open->HalfOpen", "b Open->HalfOpen"])
    })
  )

  it.scoped("one circuit per key under concurrency", () =>
    Effect.gen(function* () {
      const breakers = yield* makeKeyed({ failureThreshold: 500 })
      const read = yield* collect(breakers)

      yield* Effect.all(
        Array.from({ length: 1_000 }, () =>
          Effect.ignore(breakers.protect(Effect.zipRight(Effect.yieldNow(), Effect.fail("503")), "shared"))
        ),
        { concurrency: "unbounded", discard: true }
      )

      expect(yield* read).toEqual(["shared Closed->Open"])
      expect(yield* breakers.size).toBe(1)
    })
  )

  it.scoped("successful keys take no memory", () =>
    Effect.gen(function* () {
      const breakers = yield* makeKeyed()

      yield* Effect.forEach(
        Array.from({ length: 1_000 }, (_, i) => `key-${i}`),
        (key) => breakers.protect(Effect.void, key)
      )
      yield* failKey(breakers, "key-1", 1)
      yield* breakers.protect(Effect.void, "key-1")

      expect(yield* breakers.size).toBe(0)
    })
  )

  it.scoped("late outcome fenced per key", () =>
    Effect.gen(function* () {
      const breakers = yield* makeKeyed()
      const release = yield* Deferred.make<void>()
      const late = yield* Effect.fork(
        Effect.flip(breakers.protect(Effect.zipRight(Deferred.await(release), Effect.fail("late")), "k"))
      )
      yield* settle

      yield* failKey(breakers, "k", 3)
      yield* TestClock.adjust(cooldown)
      yield* breakers.protect(Effect.void, "k")
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(late)

      expect(yield* breakers.state("k")).toEqual({ _tag: "Closed", consecutiveFailures: 0 })
    })
  )

  it.scoped("one trial per key", () =>
    Effect.gen(function* () {
      const breakers = yield* makeKeyed()
      yield* failKey(breakers, "k", 3)
      yield* TestClock.adjust(cooldown)
      const release = yield* Deferred.make<void>()
      const runs = yield* Ref.make(0)

      const calls = yield* Effect.fork(
        Effect.all(
          Array.from({ length: 50 }, () =>
            Effect.either(
              breakers.protect(
                Effect.zipRight(
                  Ref.update(runs, (n) => n + 1),
                  Deferred.await(release)
                ),
                "k"
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
      expect(results.filter((result) => result._tag === "Left")).toHaveLength(49)
      expect((yield* breakers.state("k"))._tag).toBe("Closed")
    })
  )
})

describe("keyed memory", () => {
  it.scoped("idle circuits are dropped", () =>
    Effect.gen(function* () {
      const breakers = yield* makeKeyed({ idleTimeToLive: "5 minutes" })
      yield* failKey(breakers, "quiet", 2)
      expect(yield* breakers.size).toBe(1)

      yield* TestClock.adjust("5 minutes")
      expect(yield* breakers.size).toBe(1)
      yield* TestClock.adjust("1 second")

      expect(yield* breakers.size).toBe(0)
      expect(yield* breakers.state("quiet")).toEqual({ _tag: "Closed", consecutiveFailures: 0 })
    })
  )

  it.scoped("idleness spans the time rebase", () =>
    Effect.gen(function* () {
      // With an idle time to live of 15 minutes, times of use are kept in milliseconds from an origin that moves once
      // the clock is 2^30 ms (12 days 10:15:41.824) away from it. "before" is used just ahead of the move and is still
      // stored when it happens, so its time must move with the origin.
      const breakers = yield* makeKeyed({ idleTimeToLive: "15 minutes" })
      yield* failKey(breakers, "old", 1)
      yield* TestClock.adjust(Duration.sum(Duration.days(12), Duration.minutes(610)))
      yield* failKey(breakers, "before", 1)
      yield* TestClock.adjust("10 minutes")
      yield* failKey(breakers, "after", 1)

      yield* TestClock.adjust("8 minutes")
      expect(yield* breakers.size).toBe(1)
      expect(yield* breakers.state("after")).toEqual({ _tag: "Closed", consecutiveFailures: 1 })
      yield* TestClock.adjust("8 minutes")
      expect(yield* breakers.size).toBe(0)
    })
  )

  it.scoped("clock set back far", () =>
    Effect.gen(function* () {
      const breakers = yield* makeKeyed({ idleTimeToLive: "10 minutes" })
      yield* TestClock.adjust("20 days")
      yield* failKey(breakers, "before", 1)
      yield* TestClock.setTime(0)
      yield* failKey(breakers, "after", 1)

      yield* TestClock.adjust("11 minutes")

      // A use after the clock went back counts from the new time, so it goes idle as usual.
      expect(yield* breakers.state("after")).toEqual({ _tag: "Closed", consecutiveFailures: 0 })
    })
  )

  it.scoped("long idle time to live", () =>
    Effect.gen(function* () {
      const breakers = yield* makeKeyed({ idleTimeToLive: "30 days" })
      yield* failKey(breakers, "quiet", 1)
      yield* failKey(breakers, "busy", 1)

      for (let day = 1; day <= 29; day++) {
        yield* TestClock.adjust("1 day")
        yield* failKey(breakers, "busy", 1)
      }
      expect(yield* breakers.size).toBe(2)
      yield* TestClock.adjust("1 day")
      yield* TestClock.adjust("1 minute")

      expect(yield* breakers.size).toBe(1)
      expect(yield* breakers.state("quiet")).toEqual({ _tag: "Closed", consecutiveFailures: 0 })
    })
  )

  it.scoped("idle circuit restarts its count", () =>
    Effect.gen(function* () {
      const breakers = yield* makeKeyed({ idleTimeToLive: "1 minute" })
      yield* failKey(breakers, "quiet", 2)

      yield* TestClock.adjust("2 minutes")
      yield* failKey(breakers, "quiet", 2)

      expect(yield* breakers.state("quiet")).toEqual({ _tag: "Closed", consecutiveFailures: 2 })
    })
  )

  it.scoped("Open circuit outlives idleness", () =>
    Effect.gen(function* () {
      const breakers = yield* makeKeyed({ idleTimeToLive: "1 second", cooldown: "1 hour" })
      yield* failKey(breakers, "down", 3)

      yield* TestClock.adjust("30 minutes")

      expect(yield* breakers.size).toBe(1)
      expect((yield* breakers.state("down"))._tag).toBe("Open")
      const rejected = yield* Effect.either(breakers.protect(Effect.void, "down"))
      expect(rejected._tag).toBe("Left")
    })
  )

  it.scoped("running trial outlives idleness", () =>
    Effect.gen(function* () {
      const breakers = yield* makeKeyed({ idleTimeToLive: "1 second", trialTimeout: "1 hour" })
      yield* failKey(breakers, "down", 3)
      yield* TestClock.adjust(cooldown)
      const trial = yield* Effect.fork(breakers.protect(Effect.never, "down"))
      yield* settle

      yield* TestClock.adjust("1 minute")

      expect(yield* breakers.state("down")).toEqual({ _tag: "HalfOpen", trialSuccesses: 0, trialRunning: true })
      yield* Fiber.interrupt(trial)
    })
  )

  it.scoped("maxKeys evicts Closed circuits first", () =>
    Effect.gen(function* () {
      const breakers = yield* makeKeyed({ maxKeys: 3 })
      yield* failKey(breakers, "open", 3)
      yield* failKey(breakers, "closed-1", 1)
      yield* failKey(breakers, "closed-2", 1)

      yield* failKey(breakers, "new", 1)

      expect(yield* breakers.size).toBe(3)
      expect((yield* breakers.state("open"))._tag).toBe("Open")
      expect(yield* breakers.state("closed-1")).toEqual({ _tag: "Closed", consecutiveFailures: 0 })
      expect(yield* breakers.state("closed-2")).toEqual({ _tag: "Closed", consecutiveFailures: 1 })
      expect(yield* breakers.state("new")).toEqual({ _tag: "Closed", consecutiveFailures: 1 })
    })
  )

  it.scoped(
    "maxKeys holds under many keys",
    () =>
      Effect.gen(function* () {
        const maxKeys = 10_000
        // A threshold above the calls per key keeps every circuit Closed, so the run measures storage, not logging.
        const breakers = yield* makeKeyed({ failureThreshold: 1_000, maxKeys })
        let largest = 0

        // 1,000,000 calls over 100,000 keys, in rounds of 100,000 calls, each call failing so that it stores a circuit.
        for (let round = 0; round < 10; round++) {
          yield* Effect.forEach(
            Array.from({ length: 100_000 }, (_, i) => `key-${(i * 7 + round * 13) % 100_000}`),
            (key) => Effect.ignore(breakers.protect(Effect.fail("503"), key)),
            { discard: true }
          )
          largest = Math.max(largest, yield* breakers.size)
        }

        expect(largest).toBeLessThanOrEqual(maxKeys)
        expect(largest).toBeGreaterThan(maxKeys / 2)
      }),
    60_000
  )

  it.scoped("no timer once cooldowns end", () =>
    Effect.gen(function* () {
      const breakers = yield* makeKeyed({ failureThreshold: 1, maxKeys: 100_000 })
      for (let i = 0; i < 1_000; i++) {
        yield* Effect.ignore(breakers.protect(Effect.fail("503"), `key-${i}`))
        if (i % 100 === 99) yield* TestClock.adjust("1 second")
      }
      yield* settle
      expect((yield* TestClock.sleeps()).length).toBe(1)

      yield* TestClock.adjust("1 minute")

      expect((yield* TestClock.sleeps()).length).toBe(0)
      expect((yield* breakers.state("key-999"))._tag).toBe("HalfOpen")
    })
  )
})

describe("keyed options", () => {
  const defectOf = (options: unknown) =>
    Effect.gen(function* () {
      const exit = yield* Effect.exit(CircuitBreaker.keyed(options as CircuitBreaker.KeyedOptions))
      if (Exit.isSuccess(exit)) return undefined
      const defect = Cause.dieOption(exit.cause)
      return defect._tag === "Some" ? (defect.value as Error).message : undefined
    }).pipe(Effect.scoped)

  it.effect("rejects invalid maxKeys", () =>
    Effect.gen(function* () {
      const message = yield* defectOf({ failureThreshold: 1, cooldown: "1 second", maxKeys: 0 })
      expect(message).toBe("Invalid circuit breaker option maxKeys: expected an integer of at least 1, got 0")
    })
  )

  it.effect("rejects invalid idleTimeToLive", () =>
    Effect.gen(function* () {
      const message = yield* defectOf({ failureThreshold: 1, cooldown: "1 second", idleTimeToLive: "never" })
      expect(message).toContain("idleTimeToLive: expected a finite duration above zero")
      expect(message).toContain('got "never"')
    })
  )

  it.effect("rejects shared option errors", () =>
    Effect.gen(function* () {
      const message = yield* defectOf({ failureThreshold: -1, cooldown: "1 second" })
      expect(message).toContain("failureThreshold")
    })
  )

  it.effect("layerKeyed provides the service", () =>
    Effect.gen(function* () {
      const state = yield* Effect.flatMap(CircuitBreaker.KeyedCircuitBreaker, (breakers) =>
        Effect.zipRight(failKey(breakers, "k", 1), breakers.state("k"))
      ).pipe(Effect.provide(CircuitBreaker.layerKeyed({ failureThreshold: 2, cooldown: "1 second" })))

      expect(state).toEqual({ _tag: "Closed", consecutiveFailures: 1 })
    })
  )
})
