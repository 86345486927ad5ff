import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { CircuitBreaker } from "@effect-resilience/circuit-breaker"
import { RedisStore } from "@effect-resilience/redis"
import {
  Cause,
  Config,
  ConfigProvider,
  Deferred,
  Duration,
  Effect,
  Either,
  Exit,
  Fiber,
  Layer,
  Ref,
  Scope,
  TestClock
} from "effect"
import { captureLogs, failTimes } from "../../circuit-breaker/test/utils.js"
import { eventually, inspector, uniqueName, useRedisServer } from "./utils.js"

const redis = useRedisServer({ beforeAll, afterAll })
const prefix = "store-test"
const cooldown = Duration.seconds(30)

/** One store layer built into the test's scope: one connection, as one process would hold. */
const processStore = (options: RedisStore.Options = {}) =>
  Layer.build(RedisStore.layer({ url: redis.current().url, prefix, ...options }))

const breakerIn = (
  store: Effect.Effect.Success<ReturnType<typeof processStore>>,
  options: Partial<CircuitBreaker.Options> & { readonly name: string }
) => CircuitBreaker.make({ failureThreshold: 3, cooldown, ...options }).pipe(Effect.provide(store))

describe("redis store", () => {
  it.scoped("keys carry prefix, name and key", () =>
    Effect.gen(function* () {
      const client = yield* inspector(redis.current().url)
      const store = yield* processStore()
      const single = yield* breakerIn(store, { name: "pay:ments%" })
      const keyed = yield* CircuitBreaker.keyed({ name: "origins", failureThreshold: 3, cooldown }).pipe(
        Effect.provide(store)
      )

      yield* Effect.ignore(single.protect(Effect.fail("503")))
      yield* Effect.ignore(keyed.protect(Effect.fail("503"), "https://a.example:443"))

      expect(yield* Effect.promise(() => client.hgetall("store-test:pay%3Aments%25:"))).toMatchObject({
        t: "Closed",
        cf: "1"
      })
      expect(yield* Effect.promise(() => client.exists("store-test:origins:https://a.example:443"))).toBe(1)
      expect(RedisStore.keyOf(prefix, "pay:ments%", "")).toBe("store-test:pay%3Aments%25:")
    })
  )

  it.scoped("startup reads, never resets", () =>
    Effect.gen(function* () {
      const client = yield* inspector(redis.current().url)
      const name = uniqueName("restart")
      const key = RedisStore.keyOf(prefix, name, "")
      const first = yield* breakerIn(yield* processStore(), { name })
      yield* failTimes(first, 3)
      const stored = yield* Effect.promise(() => client.hgetall(key))

      yield* TestClock.adjust("10 seconds")
      const restarted = yield* breakerIn(yield* processStore(), { name })
      const unchanged = yield* Effect.promise(() => client.hgetall(key))
      const state = yield* restarted.state
      const rejection = yield* Effect.flip(restarted.protect(Effect.void))

      expect(stored.t).toBe("Open")
      expect(unchanged).toEqual(stored)
      expect(state).toEqual({ _tag: "Open", remainingCooldown: Duration.seconds(20) })
      expect(rejection._tag).toBe("CircuitBreakerOpen")
    })
  )

  it.scoped("failures from many connections add up", () =>
    Effect.gen(function* () {
      const name = uniqueName("many")
      const breakers = yield* Effect.forEach(Array.from({ length: 4 }), () =>
        Effect.flatMap(processStore(), (store) => breakerIn(store, { name, failureThreshold: 10_000 }))
      )

      yield* Effect.forEach(breakers, (breaker) => failTimes(breaker, 50), { concurrency: "unbounded" })

      expect(yield* breakers[0]!.state).toEqual({ _tag: "Closed", consecutiveFailures: 200 })
    })
  )

  it.scoped("one trial across connections", () =>
    Effect.gen(function* () {
      const name = uniqueName("trial")
      const breakers = yield* Effect.forEach(Array.from({ length: 5 }), () =>
        Effect.flatMap(processStore(), (store) => breakerIn(store, { name }))
      )
      yield* failTimes(breakers[0]!, 3)
      yield* TestClock.adjust(cooldown)
      const release = yield* Deferred.make<void>()
      const runs = yield* Ref.make(0)
      const rejected = yield* Ref.make(0)
      const call = (breaker: CircuitBreaker.CircuitBreaker) =>
        breaker
          .protect(
            Effect.zipRight(
              Ref.update(runs, (n) => n + 1),
              Deferred.await(release)
            )
          )
          .pipe(
            Effect.tapError(() => Ref.update(rejected, (n) => n + 1)),
            Effect.either
          )

      const calls = yield* Effect.fork(
        Effect.forEach(
          breakers.flatMap((breaker) => Array.from({ length: 20 }, () => call(breaker))),
          (effect) => effect,
          { concurrency: "unbounded" }
        )
      )
      yield* eventually(Ref.get(rejected), (count) => count === 99)
      const ranWhileHeld = yield* Ref.get(runs)
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(calls)

      expect(ranWhileHeld).toBe(1)
      expect(yield* breakers[3]!.state).toEqual({ _tag: "Closed", consecutiveFailures: 0 })
    })
  )

  it.scoped("late outcomes from another connection are fenced", () =>
    Effect.gen(function* () {
      const name = uniqueName("fenced")
      const slow = yield* breakerIn(yield* processStore(), { name })
      const fast = yield* breakerIn(yield* processStore(), { name })
      const lateStarted = yield* Deferred.make<void>()
      const lateRelease = yield* Deferred.make<void>()
      const late = yield* Effect.fork(
        slow.protect(Effect.zipRight(Deferred.succeed(lateStarted, undefined), Deferred.await(lateRelease)))
      )
      yield* Deferred.await(lateStarted)

      // While the slow call runs, the other connection opens the circuit and starts a trial.
      yield* failTimes(fast, 3)
      yield* TestClock.adjust(cooldown)
      const trialStarted = yield* Deferred.make<void>()
      const trialRelease = yield* Deferred.make<void>()
      const trial = yield* Effect.fork(
        fast.protect(Effect.zipRight(Deferred.succeed(trialStarted, undefined), Deferred.await(trialRelease)))
      )
      yield* Deferred.await(trialStarted)
      yield* Deferred.succeed(lateRelease, undefined)
      yield* Fiber.join(late)
      const afterLate = yield* fast.state
      yield* Deferred.succeed(trialRelease, undefined)
      yield* Fiber.join(trial)

      // The late success, admitted while Closed, neither closes the circuit nor takes the trial's place.
      expect(afterLate).toEqual({ _tag: "HalfOpen", trialSuccesses: 0, trialRunning: true })
      expect(yield* fast.state).toEqual({ _tag: "Closed", consecutiveFailures: 0 })
    })
  )

  it.scoped("renewals keep the trial's lease", () =>
    Effect.gen(function* () {
      const client = yield* inspector(redis.current().url)
      const name = uniqueName("renew")
      const key = RedisStore.keyOf(prefix, name, "")
      const holder = yield* breakerIn(yield* processStore({ trialLease: "900 millis" }), { name })
      const other = yield* breakerIn(yield* processStore({ trialLease: "900 millis" }), { name })
      yield* failTimes(holder, 3)
      yield* TestClock.adjust(cooldown)
      const started = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      const trial = yield* Effect.fork(
        holder.protect(Effect.zipRight(Deferred.succeed(started, undefined), Deferred.await(release)))
      )
      yield* Deferred.await(started)

      // Each step passes a third of the lease, so the holder's renewal fiber writes a new expiry every time.
      for (let step = 1; step <= 6; step++) {
        yield* TestClock.adjust("300 millis")
        const expected = String(30_000 + step * 300 + 900)
        yield* eventually(
          Effect.promise(() => client.hget(key, "l")),
          (lease) => lease === expected
        )
      }
      const whileHeld = yield* Effect.flip(other.protect(Effect.void))
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(trial)

      expect(whileHeld).toMatchObject({ _tag: "CircuitBreakerOpen", state: "HalfOpen" })
      expect(yield* other.state).toEqual({ _tag: "Closed", consecutiveFailures: 0 })
    })
  )

  const lapse = (readLogs: Effect.Effect<ReadonlyArray<{ readonly message: string }>>) =>
    Effect.gen(function* () {
      const name = uniqueName("lapse")
      const holderScope = yield* Scope.make()
      const holderStore = yield* Layer.buildWithScope(
        RedisStore.layer({ url: redis.current().url, prefix, trialLease: "1 second" }),
        holderScope
      )
      const holder = yield* breakerIn(holderStore, { name })
      const other = yield* breakerIn(yield* processStore({ trialLease: "1 second" }), { name })
      yield* failTimes(holder, 3)
      yield* TestClock.adjust(cooldown)
      const started = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      const orphan = yield* Effect.fork(
        holder.protect(Effect.zipRight(Deferred.succeed(started, undefined), Deferred.await(release)))
      )
      yield* Deferred.await(started)
      // The holder's connection and renewals end, as when its process dies; its trial still runs.
      yield* Scope.close(holderScope, Exit.void)

      yield* TestClock.adjust("999 millis")
      const beforeLapse = yield* Effect.flip(other.protect(Effect.void))
      yield* TestClock.adjust("1 millis")
      const successor = yield* Deferred.make<void>()
      const next = yield* Effect.fork(other.protect(Deferred.await(successor)))
      yield* eventually(other.state, (state) => state._tag === "HalfOpen" && state.trialRunning)
      yield* Deferred.succeed(release, undefined)
      yield* Effect.ignore(Fiber.join(orphan))
      const afterOrphan = yield* other.state
      yield* Deferred.succeed(successor, undefined)
      yield* Fiber.join(next)

      expect(beforeLapse).toMatchObject({ _tag: "CircuitBreakerOpen", state: "HalfOpen" })
      expect(afterOrphan).toEqual({ _tag: "HalfOpen", trialSuccesses: 0, trialRunning: true })
      expect(yield* other.state).toEqual({ _tag: "Closed", consecutiveFailures: 0 })
      expect((yield* readLogs).filter((line) => line.message.includes("lease lapsed"))).toHaveLength(1)
    })

  it.scoped("lapsed lease admits a new trial", () =>
    Effect.gen(function* () {
      const logs = yield* captureLogs
      yield* lapse(logs.read).pipe(Effect.provide(logs.layer))
    })
  )

  it.scoped("expiry outlasts cooldown and lease", () =>
    Effect.gen(function* () {
      const client = yield* inspector(redis.current().url)
      const name = uniqueName("expiry")
      const key = RedisStore.keyOf(prefix, name, "")
      const breaker = yield* breakerIn(yield* processStore({ idleTimeToLive: "1 minute", trialLease: "10 seconds" }), {
        name
      })
      const pttl = Effect.promise(() => client.pttl(key))

      yield* failTimes(breaker, 1)
      const closed = yield* pttl
      yield* failTimes(breaker, 2)
      const open = yield* pttl
      yield* TestClock.adjust(cooldown)
      const release = yield* Deferred.make<void>()
      const trial = yield* Effect.fork(breaker.protect(Deferred.await(release)))
      yield* eventually(breaker.state, (state) => state._tag === "HalfOpen" && state.trialRunning)
      const halfOpen = yield* pttl
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(trial)
      yield* breaker.isolate
      const isolated = yield* pttl

      expect(closed).toBeGreaterThan(59_000)
      expect(closed).toBeLessThanOrEqual(60_000)
      expect(open).toBeGreaterThan(89_000)
      expect(open).toBeLessThanOrEqual(90_000)
      expect(halfOpen).toBeGreaterThan(69_000)
      expect(halfOpen).toBeLessThanOrEqual(70_000)
      expect(isolated).toBe(-1)
    })
  )

  it.live("idle keys expire", () =>
    Effect.gen(function* () {
      const client = yield* inspector(redis.current().url)
      const name = uniqueName("idle")
      const key = RedisStore.keyOf(prefix, name, "")
      const breaker = yield* breakerIn(yield* processStore({ idleTimeToLive: "1 second" }), { name })

      yield* failTimes(breaker, 1)
      const before = yield* Effect.promise(() => client.exists(key))
      yield* eventually(
        Effect.promise(() => client.exists(key)),
        (exists) => exists === 0,
        3_000
      )

      expect(before).toBe(1)
      expect(yield* breaker.state).toEqual({ _tag: "Closed", consecutiveFailures: 0 })
    }).pipe(Effect.scoped)
  )

  it.scoped("keyed circuits list and count", () =>
    Effect.gen(function* () {
      const breakers = yield* CircuitBreaker.keyed({ name: uniqueName("listed"), failureThreshold: 2, cooldown }).pipe(
        Effect.provide(yield* processStore())
      )

      yield* Effect.ignore(breakers.protect(Effect.fail("503"), "a"))
      yield* Effect.ignore(breakers.protect(Effect.fail("503"), "b*"))
      yield* Effect.ignore(breakers.protect(Effect.void, "c"))

      expect(yield* breakers.size).toBe(2)
    })
  )
})

describe("redis store options", () => {
  const defect = (options: RedisStore.Options) =>
    Effect.gen(function* () {
      const exit = yield* Effect.exit(Effect.scoped(Layer.build(RedisStore.layer(options))))
      return Exit.isFailure(exit) ? Cause.pretty(exit.cause) : "built"
    })

  it.effect("invalid options name option and range", () =>
    Effect.gen(function* () {
      expect(yield* defect({ commandTimeout: "0 millis" })).toContain(
        'Invalid Redis store option commandTimeout: expected a duration from 1ms to 1m, got "0 millis"'
      )
      expect(yield* defect({ trialLease: "100 millis" })).toContain(
        'Invalid Redis store option trialLease: expected a duration from 750ms to 1h, got "100 millis"'
      )
      expect(yield* defect({ prefix: "" })).toContain(
        'Invalid Redis store option prefix: expected a non-empty string of at most 256 characters, got ""'
      )
      expect(yield* defect({ onUnavailable: "open" as never })).toContain(
        'Invalid Redis store option onUnavailable: expected "fallback" or "failClosed", got "open"'
      )
      expect(yield* defect({ url: "http://127.0.0.1" })).toContain("Invalid Redis store option url")
    })
  )

  it.effect("config errors name the option", () =>
    Effect.gen(function* () {
      const layer = RedisStore.layerConfig({ trialLease: Config.duration("LEASE") })
      const result = yield* Effect.scoped(Layer.build(layer)).pipe(
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["LEASE", "5 millis"]]))),
        Effect.either
      )

      expect(Either.isLeft(result)).toBe(true)
      if (Either.isLeft(result)) {
        expect(String(result.left)).toContain("trialLease")
        expect(String(result.left)).toContain("expected a duration from 750ms to 1h")
      }
    })
  )
})
