import { assert, describe, expect, it } from "@effect/vitest"
import { CircuitBreaker } from "@effect-resilience/circuit-breaker"
import { Duration, Effect, Fiber, Ref, Schedule, TestClock } from "effect"
import { failTimes, settle } from "./utils.js"

const cooldown = Duration.seconds(30)

const breakerLayer = (failureThreshold: number) =>
  CircuitBreaker.layer({ name: "upstream", failureThreshold, cooldown })

/** An upstream call that always fails, counting the calls that reached it. */
const failingUpstream = (calls: Ref.Ref<number>) =>
  Effect.zipRight(
    Ref.update(calls, (n) => n + 1),
    Effect.fail("503")
  )

const everySecond = (retries: number) => Schedule.intersect(Schedule.spaced("1 second"), Schedule.recurs(retries))

describe("retry", () => {
  it.effect("rejected attempt stops at once", () =>
    Effect.gen(function* () {
      const calls = yield* Ref.make(0)
      yield* Effect.gen(function* () {
        const breaker = yield* CircuitBreaker.CircuitBreaker
        yield* failTimes(breaker, 1)
        yield* Ref.set(calls, 0)

        const fiber = yield* Effect.fork(Effect.flip(CircuitBreaker.retry(failingUpstream(calls), everySecond(10))))
        yield* settle

        // The retry ended without the clock moving, so it did not sleep on its schedule.
        const exit = yield* Fiber.poll(fiber)
        assert.isTrue(exit._tag === "Some" && exit.value._tag === "Success")
        const error = yield* Fiber.join(fiber)
        assert.isTrue(CircuitBreaker.isCircuitBreakerOpen(error))
        expect(yield* Ref.get(calls)).toBe(0)
      }).pipe(Effect.provide(breakerLayer(1)))
    })
  )

  it.effect("breaker tripped by own attempts", () =>
    Effect.gen(function* () {
      const calls = yield* Ref.make(0)
      const fiber = yield* failingUpstream(calls).pipe(
        CircuitBreaker.retry(everySecond(10)),
        Effect.flip,
        Effect.provide(breakerLayer(3)),
        Effect.fork
      )

      yield* TestClock.adjust("1 minute")
      const error = yield* Fiber.join(fiber)

      assert.isTrue(CircuitBreaker.isCircuitBreakerOpen(error))
      expect(yield* Ref.get(calls)).toBe(3)
    })
  )

  it.effect("breaker opened during sleep", () =>
    Effect.gen(function* () {
      const calls = yield* Ref.make(0)
      yield* Effect.gen(function* () {
        const retrying = yield* failingUpstream(calls).pipe(
          CircuitBreaker.retry(Schedule.intersect(Schedule.spaced("10 seconds"), Schedule.recurs(10))),
          Effect.flip,
          Effect.fork
        )
        yield* settle
        expect(yield* Ref.get(calls)).toBe(1)

        // Other workers trip the breaker while the retry sleeps.
        const breaker = yield* CircuitBreaker.CircuitBreaker
        yield* failTimes(breaker, 5)
        yield* TestClock.adjust("10 seconds")
        const error = yield* Fiber.join(retrying)

        assert.isTrue(CircuitBreaker.isCircuitBreakerOpen(error))
        // Only the retry's first attempt reached the upstream: the attempt after the sleep was rejected.
        expect(yield* Ref.get(calls)).toBe(1)
      }).pipe(Effect.provide(breakerLayer(5)))
    })
  )

  it.effect("succeeds once the upstream answers", () =>
    Effect.gen(function* () {
      const calls = yield* Ref.make(0)
      const flaky = Effect.flatMap(
        Ref.updateAndGet(calls, (n) => n + 1),
        (n) => (n < 3 ? Effect.fail("503") : Effect.succeed("ok"))
      )

      const fiber = yield* CircuitBreaker.retry(flaky, everySecond(10)).pipe(
        Effect.provide(breakerLayer(5)),
        Effect.fork
      )
      yield* TestClock.adjust("10 seconds")

      expect(yield* Fiber.join(fiber)).toBe("ok")
      expect(yield* Ref.get(calls)).toBe(3)
    })
  )

  it.effect("schedule exhausted returns upstream error", () =>
    Effect.gen(function* () {
      const calls = yield* Ref.make(0)
      const fiber = yield* CircuitBreaker.retry(failingUpstream(calls), everySecond(2)).pipe(
        Effect.flip,
        Effect.provide(breakerLayer(10)),
        Effect.fork
      )
      yield* TestClock.adjust("10 seconds")

      expect(yield* Fiber.join(fiber)).toBe("503")
      expect(yield* Ref.get(calls)).toBe(3)
    })
  )
})

describe("untilOpen", () => {
  it.effect("stops Effect.retry on rejection", () =>
    Effect.gen(function* () {
      const calls = yield* Ref.make(0)
      const fiber = yield* CircuitBreaker.protect(failingUpstream(calls)).pipe(
        Effect.retry(CircuitBreaker.untilOpen(everySecond(10))),
        Effect.flip,
        Effect.provide(breakerLayer(2)),
        Effect.fork
      )

      yield* TestClock.adjust("1 minute")
      const error = yield* Fiber.join(fiber)

      assert.isTrue(CircuitBreaker.isCircuitBreakerOpen(error))
      expect(yield* Ref.get(calls)).toBe(2)
    })
  )

  it.effect("inner schedule never sees rejection", () =>
    Effect.gen(function* () {
      const inputs = yield* Ref.make<ReadonlyArray<unknown>>([])
      const inner = everySecond(10).pipe(
        Schedule.tapInput((input: unknown) => Ref.update(inputs, (all) => [...all, input]))
      )
      const calls = yield* Ref.make(0)
      const fiber = yield* CircuitBreaker.protect(failingUpstream(calls)).pipe(
        Effect.retry(CircuitBreaker.untilOpen(inner)),
        Effect.flip,
        Effect.provide(breakerLayer(2)),
        Effect.fork
      )

      yield* TestClock.adjust("1 minute")
      yield* Fiber.join(fiber)

      expect(yield* Ref.get(inputs)).toEqual(["503", "503"])
    })
  )

  it.effect("output undefined on first rejection", () =>
    Effect.gen(function* () {
      const output = yield* Effect.gen(function* () {
        const breaker = yield* CircuitBreaker.CircuitBreaker
        yield* failTimes(breaker, 1)
        return yield* Effect.retryOrElse(
          CircuitBreaker.protect(Effect.fail("503")),
          CircuitBreaker.untilOpen(Schedule.recurs(3)),
          (_error, out) => Effect.succeed(out)
        )
      }).pipe(Effect.provide(breakerLayer(1)))

      expect(output).toBeUndefined()
    })
  )

  it.effect("passes through the inner output", () =>
    Effect.gen(function* () {
      const calls = yield* Ref.make(0)
      const fiber = yield* Effect.retryOrElse(
        CircuitBreaker.protect(failingUpstream(calls)),
        CircuitBreaker.untilOpen(Schedule.recurs(2)),
        (_error, out) => Effect.succeed(out)
      ).pipe(Effect.provide(breakerLayer(10)), Effect.fork)

      yield* TestClock.adjust("1 minute")

      expect(yield* Fiber.join(fiber)).toBe(2)
    })
  )
})

describe("incident replay", () => {
  const workers = 6
  const retries = 10
  const failureThreshold = 5
  const outage = Duration.minutes(22)
  const firstDelay = Duration.millis(100)
  const backoff = Schedule.intersect(Schedule.exponential(firstDelay), Schedule.recurs(retries))
  // A task that fails every attempt sleeps 100 ms, 200 ms, ... 51.2 s between its eleven attempts.
  const taskMillis = Duration.toMillis(firstDelay) * (2 ** retries - 1)

  /**
   * Runs six workers that take tasks back to back for the length of the outage, each task retried up to ten times
   * on exponential backoff. A worker whose task was rejected waits for the rejection's `retryAfter`, or one second
   * while a trial runs, before its next task. Returns the calls that reached the always-failing upstream.
   */
  const replay = (protect: boolean) =>
    Effect.gen(function* () {
      const calls = yield* Ref.make(0)
      const upstream = failingUpstream(calls)
      const task = protect ? CircuitBreaker.retry(upstream, backoff) : Effect.retry(upstream, backoff)
      const worker = task.pipe(
        Effect.catchAll((error) =>
          CircuitBreaker.isCircuitBreakerOpen(error)
            ? Effect.sleep(Duration.max(error.retryAfter, Duration.seconds(1)))
            : Effect.void
        ),
        Effect.forever
      )

      const fibers = yield* Effect.forkAll(Array.from({ length: workers }, () => worker))
      yield* TestClock.adjust(outage)
      yield* Fiber.interrupt(fibers)
      return yield* Ref.get(calls)
    }).pipe(Effect.provide(CircuitBreaker.layer({ name: "llm-api", failureThreshold, cooldown })))

  it.effect("breaker bounds upstream calls", () =>
    Effect.gen(function* () {
      const protectedCalls = yield* replay(true)
      const baselineCalls = yield* replay(false)

      // The threshold, one call in flight per worker when the breaker opens, and one trial per cooldown (plus the
      // first one at the start of the window).
      const trials = Math.floor(Duration.toMillis(outage) / Duration.toMillis(cooldown)) + 1
      const bound = failureThreshold + workers + trials
      expect(protectedCalls).toBeLessThanOrEqual(bound)
      expect(protectedCalls).toBeGreaterThanOrEqual(failureThreshold)

      // Without the breaker each worker spends all eleven attempts on every task it finishes within the outage.
      const fullTasks = Math.floor(Duration.toMillis(outage) / taskMillis)
      expect(baselineCalls).toBeGreaterThanOrEqual(workers * (retries + 1) * fullTasks)
      expect(baselineCalls).toBeGreaterThan(10 * bound)
    })
  )

  it.effect("late in-flight calls stay bounded", () =>
    Effect.gen(function* () {
      // Eleven calls are in flight when the threshold is reached. The six that finish after the opening must neither
      // extend the cooldown nor open the breaker again.
      const state = yield* Effect.gen(function* () {
        const breaker = yield* CircuitBreaker.CircuitBreaker
        const slow = Effect.zipRight(Effect.sleep("1 second"), Effect.fail("503"))
        yield* Effect.all(
          Array.from({ length: 11 }, () => Effect.ignore(breaker.protect(slow))),
          { concurrency: "unbounded", discard: true }
        ).pipe(Effect.fork)

        yield* settle
        yield* TestClock.adjust("1 second")
        yield* settle
        return yield* breaker.state
      }).pipe(Effect.provide(CircuitBreaker.layer({ failureThreshold, cooldown })))

      expect(state).toEqual({ _tag: "Open", remainingCooldown: cooldown })
    })
  )
})
