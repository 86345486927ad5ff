import { assert, describe, expect, it } from "@effect/vitest"
import { CircuitBreaker } from "@effect-resilience/circuit-breaker"
import { Cause, Duration, Effect, Exit, Fiber, Option, Schedule, TestClock } from "effect"
import { settle } from "./utils.js"

const succeed = (breaker: CircuitBreaker.CircuitBreaker) => breaker.protect(Effect.void)
const fail = (breaker: CircuitBreaker.CircuitBreaker) => Effect.ignore(breaker.protect(Effect.fail("503")))

/** Runs one call per letter: `S` succeeds, `F` fails. */
const run = (breaker: CircuitBreaker.CircuitBreaker, pattern: string) =>
  Effect.forEach(pattern.split(""), (letter) => (letter === "S" ? Effect.ignore(succeed(breaker)) : fail(breaker)), {
    discard: true
  })

const tagOf = (breaker: CircuitBreaker.CircuitBreaker) => Effect.map(breaker.state, (state) => state._tag)

const windowOf = (breaker: CircuitBreaker.CircuitBreaker) =>
  Effect.map(breaker.state, (state) => (state._tag === "Closed" ? state.windows?.[0] : undefined))

describe("failure rate over calls", () => {
  const makeBreaker = () =>
    CircuitBreaker.make({
      policy: CircuitBreaker.failureRate({ threshold: 0.5, minimumCalls: 10, window: CircuitBreaker.lastCalls(10) }),
      cooldown: "30 seconds"
    })

  it.scoped("opens at the exact threshold", () =>
    Effect.gen(function* () {
      const breaker = yield* makeBreaker()

      yield* run(breaker, "SFSFSFSFS")
      expect(yield* tagOf(breaker)).toBe("Closed")
      yield* run(breaker, "F")

      expect(yield* tagOf(breaker)).toBe("Open")
    })
  )

  it.scoped("one below the threshold stays closed", () =>
    Effect.gen(function* () {
      const breaker = yield* makeBreaker()

      yield* run(breaker, "SFSFSFSFSS")

      expect(yield* windowOf(breaker)).toEqual({ policy: "FailureRate", calls: 10, failures: 4, slowCalls: 0 })
      expect(yield* tagOf(breaker)).toBe("Closed")
    })
  )

  it.scoped("waits for minimumCalls", () =>
    Effect.gen(function* () {
      const breaker = yield* makeBreaker()

      yield* run(breaker, "FFFFFFFFF")
      expect(yield* tagOf(breaker)).toBe("Closed")
      yield* run(breaker, "F")

      expect(yield* tagOf(breaker)).toBe("Open")
    })
  )

  it.scoped("oldest calls slide out", () =>
    Effect.gen(function* () {
      const breaker = yield* makeBreaker()

      yield* run(breaker, "FFFFSSSSSS")
      yield* run(breaker, "SSSS")

      expect(yield* windowOf(breaker)).toEqual({ policy: "FailureRate", calls: 10, failures: 0, slowCalls: 0 })
    })
  )
})

describe("failure rate over time", () => {
  // Ten buckets of one second each.
  const makeBreaker = () =>
    CircuitBreaker.make({
      policy: CircuitBreaker.failureRate({
        threshold: 0.5,
        minimumCalls: 4,
        window: CircuitBreaker.lastDuration("10 seconds", 10)
      }),
      cooldown: "30 seconds"
    })

  it.scoped("opens at the exact threshold", () =>
    Effect.gen(function* () {
      const breaker = yield* makeBreaker()

      yield* run(breaker, "SFS")
      expect(yield* tagOf(breaker)).toBe("Closed")
      yield* run(breaker, "F")

      expect(yield* tagOf(breaker)).toBe("Open")
    })
  )

  it.scoped("one below the threshold stays closed", () =>
    Effect.gen(function* () {
      const breaker = yield* makeBreaker()

      yield* run(breaker, "SFSSS")

      expect(yield* tagOf(breaker)).toBe("Closed")
    })
  )

  it.scoped("idle gap clears the window", () =>
    Effect.gen(function* () {
      const breaker = yield* makeBreaker()
      yield* run(breaker, "FFF")

      yield* TestClock.adjust("11 seconds")
      expect(yield* windowOf(breaker)).toEqual({ policy: "FailureRate", calls: 0, failures: 0, slowCalls: 0 })
      yield* run(breaker, "F")

      expect(yield* windowOf(breaker)).toEqual({ policy: "FailureRate", calls: 1, failures: 1, slowCalls: 0 })
      expect(yield* tagOf(breaker)).toBe("Closed")
    })
  )

  it.scoped("bucket edges expire in order", () =>
    Effect.gen(function* () {
      const breaker = yield* makeBreaker()
      yield* TestClock.adjust("999 millis")
      yield* run(breaker, "S")
      yield* TestClock.adjust("1 millis")
      yield* run(breaker, "F")

      // Buckets are aligned to whole seconds: the first call is in [0 s, 1 s), the second in [1 s, 2 s).
      yield* TestClock.adjust(Duration.millis(10_000 - 1_000 - 1))
      const beforeEdge = yield* windowOf(breaker)
      yield* TestClock.adjust("1 millis")
      const atFirstEdge = yield* windowOf(breaker)
      yield* TestClock.adjust("1 second")
      const atSecondEdge = yield* windowOf(breaker)

      expect(beforeEdge).toEqual({ policy: "FailureRate", calls: 2, failures: 1, slowCalls: 0 })
      expect(atFirstEdge).toEqual({ policy: "FailureRate", calls: 1, failures: 1, slowCalls: 0 })
      expect(atSecondEdge).toEqual({ policy: "FailureRate", calls: 0, failures: 0, slowCalls: 0 })
    })
  )

  it.scoped("call longer than the window counts once", () =>
    Effect.gen(function* () {
      const breaker = yield* makeBreaker()
      const long = yield* Effect.fork(
        Effect.ignore(breaker.protect(Effect.zipRight(Effect.sleep("15 seconds"), Effect.fail("503"))))
      )
      yield* settle

      yield* TestClock.adjust("15 seconds")
      yield* Fiber.join(long)

      expect(yield* windowOf(breaker)).toEqual({ policy: "FailureRate", calls: 1, failures: 1, slowCalls: 0 })
    })
  )
})

describe("slow-call rate", () => {
  const slowPolicy = CircuitBreaker.slowCallRate({
    threshold: 0.5,
    slowCallDuration: "2 seconds",
    minimumCalls: 4,
    window: CircuitBreaker.lastCalls(4)
  })

  /** A successful call that takes `millis` of `TestClock` time. */
  const timed = (breaker: CircuitBreaker.CircuitBreaker, millis: number) =>
    Effect.gen(function* () {
      const fiber = yield* Effect.fork(breaker.protect(Effect.sleep(Duration.millis(millis))))
      yield* settle
      yield* TestClock.adjust(Duration.millis(millis))
      return yield* Fiber.await(fiber)
    })

  it.scoped("opens while every call succeeds", () =>
    Effect.gen(function* () {
      const breaker = yield* CircuitBreaker.make({ policy: slowPolicy, cooldown: "30 seconds" })

      const exits = [yield* timed(breaker, 2_000), yield* timed(breaker, 100), yield* timed(breaker, 100)]
      expect(yield* tagOf(breaker)).toBe("Closed")
      exits.push(yield* timed(breaker, 2_500))

      for (const exit of exits) expect(Exit.isSuccess(exit)).toBe(true)
      expect(yield* tagOf(breaker)).toBe("Open")
    })
  )

  it.scoped("just under the duration is not slow", () =>
    Effect.gen(function* () {
      const breaker = yield* CircuitBreaker.make({ policy: slowPolicy, cooldown: "30 seconds" })

      for (const millis of [2_000, 1_999, 1_999, 100]) yield* timed(breaker, millis)

      expect(yield* windowOf(breaker)).toEqual({ policy: "SlowCallRate", calls: 4, failures: 0, slowCalls: 1 })
      expect(yield* tagOf(breaker)).toBe("Closed")
    })
  )

  it.scoped("slow trial reopens", () =>
    Effect.gen(function* () {
      const breaker = yield* CircuitBreaker.make({
        policy: [slowPolicy, CircuitBreaker.consecutiveFailures(1)],
        cooldown: "30 seconds"
      })
      yield* fail(breaker)
      yield* TestClock.adjust("30 seconds")

      const exit = yield* timed(breaker, 3_000)

      expect(Exit.isSuccess(exit)).toBe(true)
      expect(yield* tagOf(breaker)).toBe("Open")
    })
  )
})

describe("timeouts", () => {
  it.scoped("callTimeout interrupts and counts", () =>
    Effect.gen(function* () {
      const breaker = yield* CircuitBreaker.make({
        failureThreshold: 3,
        cooldown: "30 seconds",
        callTimeout: "5 seconds"
      })
      let interrupted = false
      const hung = Effect.never.pipe(Effect.onInterrupt(() => Effect.sync(() => (interrupted = true))))

      const fiber = yield* Effect.fork(Effect.flip(breaker.protect(hung)))
      yield* settle
      yield* TestClock.adjust("5 seconds")
      const error = yield* Fiber.join(fiber)

      assert.strictEqual(error._tag, "CircuitBreakerTimeout")
      if (error._tag === "CircuitBreakerTimeout") {
        expect(Duration.toMillis(error.timeout)).toBe(5_000)
        expect(error.trial).toBe(false)
        expect(String(error)).toMatch(/^CircuitBreakerTimeout: Call through circuit breaker ".+" timed out after 5s$/)
      }
      expect(interrupted).toBe(true)
      expect(yield* breaker.state).toEqual({ _tag: "Closed", consecutiveFailures: 1 })
    })
  )

  it.scoped("timeout counts even when isFailure rejects", () =>
    Effect.gen(function* () {
      const breaker = yield* CircuitBreaker.make({
        failureThreshold: 3,
        cooldown: "30 seconds",
        callTimeout: "1 second",
        isFailure: () => false
      })

      const fiber = yield* Effect.fork(Effect.flip(breaker.protect(Effect.never)))
      yield* settle
      yield* TestClock.adjust("1 second")
      yield* Fiber.join(fiber)

      expect(yield* breaker.state).toEqual({ _tag: "Closed", consecutiveFailures: 1 })
    })
  )

  it.scoped("hung trial ends at trialTimeout", () =>
    Effect.gen(function* () {
      const breaker = yield* CircuitBreaker.make({ failureThreshold: 1, cooldown: "30 seconds" })
      yield* fail(breaker)
      yield* TestClock.adjust("30 seconds")

      const trial = yield* Effect.fork(Effect.flip(breaker.protect(Effect.never)))
      yield* settle
      yield* TestClock.adjust(Duration.subtract(Duration.minutes(1), Duration.millis(1)))
      const beforeTimeout = yield* breaker.state
      yield* TestClock.adjust("1 millis")
      const error = yield* Fiber.join(trial)

      expect(beforeTimeout).toEqual({ _tag: "HalfOpen", trialSuccesses: 0, trialRunning: true })
      assert.strictEqual(error._tag, "CircuitBreakerTimeout")
      if (error._tag === "CircuitBreakerTimeout") expect(error.trial).toBe(true)
      expect(yield* tagOf(breaker)).toBe("Open")
    })
  )

  it.scoped("trialTimeout defaults to callTimeout", () =>
    Effect.gen(function* () {
      const breaker = yield* CircuitBreaker.make({
        failureThreshold: 1,
        cooldown: "30 seconds",
        callTimeout: "3 seconds"
      })
      yield* fail(breaker)
      yield* TestClock.adjust("30 seconds")

      const trial = yield* Effect.fork(Effect.flip(breaker.protect(Effect.never)))
      yield* settle
      yield* TestClock.adjust("3 seconds")
      const error = yield* Fiber.join(trial)

      assert.strictEqual(error._tag, "CircuitBreakerTimeout")
      if (error._tag === "CircuitBreakerTimeout") expect(Duration.toMillis(error.timeout)).toBe(3_000)
    })
  )
})

describe("cooldown backoff", () => {
  const remaining = (breaker: CircuitBreaker.CircuitBreaker) =>
    Effect.map(breaker.state, (state) => (state._tag === "Open" ? Duration.toMillis(state.remainingCooldown) : -1))

  const makeBreaker = () =>
    CircuitBreaker.make({
      failureThreshold: 1,
      cooldown: Schedule.exponential("10 seconds"),
      maxCooldown: "30 seconds"
    })

  /** Waits out the current cooldown and fails the trial, so that the breaker opens again. */
  const failTrialAfter = (breaker: CircuitBreaker.CircuitBreaker, millis: number) =>
    Effect.zipRight(TestClock.adjust(Duration.millis(millis)), fail(breaker))

  it.scoped("grows and stops at the cap", () =>
    Effect.gen(function* () {
      const breaker = yield* makeBreaker()

      yield* fail(breaker)
      const first = yield* remaining(breaker)
      yield* failTrialAfter(breaker, first)
      const second = yield* remaining(breaker)
      yield* failTrialAfter(breaker, second)
      const third = yield* remaining(breaker)
      yield* failTrialAfter(breaker, third)
      const fourth = yield* remaining(breaker)

      expect([first, second, third, fourth]).toEqual([10_000, 20_000, 30_000, 30_000])
    })
  )

  it.scoped("resets after staying closed as long", () =>
    Effect.gen(function* () {
      const breaker = yield* makeBreaker()
      yield* fail(breaker)
      yield* failTrialAfter(breaker, 10_000)
      // Open for 10 s, then 20 s: the run of openings lasted 30 s when the trial below closes the breaker.
      yield* TestClock.adjust("20 seconds")
      yield* succeed(breaker)
      expect(yield* tagOf(breaker)).toBe("Closed")

      yield* TestClock.adjust("30 seconds")
      yield* fail(breaker)

      expect(yield* remaining(breaker)).toBe(10_000)
    })
  )

  it.scoped("continues when reopened sooner", () =>
    Effect.gen(function* () {
      const breaker = yield* makeBreaker()
      yield* fail(breaker)
      yield* failTrialAfter(breaker, 10_000)
      yield* TestClock.adjust("20 seconds")
      yield* succeed(breaker)

      yield* TestClock.adjust("29 seconds")
      yield* fail(breaker)

      expect(yield* remaining(breaker)).toBe(30_000)
    })
  )

  it.scoped("Retry-After style minimum is capped", () =>
    Effect.gen(function* () {
      const breaker = yield* CircuitBreaker.make({
        failureThreshold: 1,
        cooldown: "10 seconds",
        maxCooldown: "15 seconds"
      })

      yield* fail(breaker)

      expect(yield* remaining(breaker)).toBe(10_000)
    })
  )

  it.scoped("ended schedule keeps its last delay", () =>
    Effect.gen(function* () {
      const breaker = yield* CircuitBreaker.make({
        failureThreshold: 1,
        cooldown: Schedule.exponential("10 seconds").pipe(Schedule.intersect(Schedule.recurs(2))),
        maxCooldown: "1 minute"
      })

      const cooldowns: Array<number> = []
      yield* fail(breaker)
      for (let opening = 0; opening < 4; opening++) {
        const current = yield* remaining(breaker)
        cooldowns.push(current)
        yield* failTrialAfter(breaker, current)
      }

      expect(cooldowns).toEqual([10_000, 20_000, 20_000, 20_000])
    })
  )

  it.scoped("backoff measures the last open period", () =>
    Effect.gen(function* () {
      const breaker = yield* makeBreaker()
      // First period: open at 0, trial fails at 10 s, closes at 30 s, so it lasted 30 s.
      yield* fail(breaker)
      yield* failTrialAfter(breaker, 10_000)
      yield* TestClock.adjust("20 seconds")
      yield* succeed(breaker)
      // A short second period: open at 60 s, closes at 70 s, so it lasted 10 s, with the count still growing.
      yield* TestClock.adjust("30 seconds")
      yield* fail(breaker)
      const second = yield* remaining(breaker)
      yield* TestClock.adjust(Duration.millis(second))
      yield* succeed(breaker)

      // Closed for 10 s now, as long as the last period: the count starts over.
      yield* TestClock.adjust("10 seconds")
      yield* fail(breaker)

      expect(second).toBe(10_000)
      expect(yield* remaining(breaker)).toBe(10_000)
    })
  )

  it.scoped("jittered schedule stays in bounds", () =>
    Effect.gen(function* () {
      const breaker = yield* CircuitBreaker.make({
        failureThreshold: 1,
        cooldown: Schedule.spaced("10 seconds").pipe(Schedule.jittered),
        maxCooldown: "1 minute"
      })

      yield* fail(breaker)
      const cooldown = yield* remaining(breaker)

      expect(cooldown).toBeGreaterThanOrEqual(8_000)
      expect(cooldown).toBeLessThanOrEqual(12_000)
    })
  )
})

describe("policy options", () => {
  const messageOf = (options: unknown) =>
    Effect.gen(function* () {
      const exit = yield* Effect.exit(Effect.scoped(CircuitBreaker.make(options as CircuitBreaker.Options)))
      if (Exit.isSuccess(exit)) return undefined
      return Option.getOrUndefined(Option.map(Cause.dieOption(exit.cause), (defect) => (defect as Error).message))
    })

  const cases: ReadonlyArray<readonly [string, unknown, string]> = [
    [
      "threshold above 1",
      { policy: CircuitBreaker.failureRate({ threshold: 1.5, window: CircuitBreaker.lastCalls(10) }), cooldown: 1 },
      "policy.threshold: expected a fraction above 0 and at most 1, such as 0.5 for 50%, got 1.5"
    ],
    [
      "threshold zero",
      { policy: CircuitBreaker.failureRate({ threshold: 0, window: CircuitBreaker.lastCalls(10) }), cooldown: 1 },
      "policy.threshold: expected a fraction above 0 and at most 1"
    ],
    [
      "minimumCalls above size",
      {
        policy: CircuitBreaker.failureRate({ threshold: 0.5, minimumCalls: 20, window: CircuitBreaker.lastCalls(10) }),
        cooldown: 1
      },
      "policy.minimumCalls: expected at most the window size (10), got 20"
    ],
    [
      "window size zero",
      { policy: CircuitBreaker.failureRate({ threshold: 0.5, window: CircuitBreaker.lastCalls(0) }), cooldown: 1 },
      "policy.window.size: expected an integer from 1 to 100000, got 0"
    ],
    [
      "buckets zero",
      {
        policy: CircuitBreaker.failureRate({ threshold: 0.5, window: CircuitBreaker.lastDuration("1 minute", 0) }),
        cooldown: 1
      },
      "policy.window.buckets: expected an integer from 1 to 1000, got 0"
    ],
    [
      "window duration invalid",
      {
        policy: CircuitBreaker.failureRate({
          threshold: 0.5,
          window: CircuitBreaker.lastDuration("forever" as Duration.DurationInput)
        }),
        cooldown: 1
      },
      "policy.window.duration: expected a finite duration above zero"
    ],
    [
      "slowCallDuration zero",
      {
        policy: CircuitBreaker.slowCallRate({
          threshold: 0.5,
          slowCallDuration: 0,
          window: CircuitBreaker.lastCalls(10)
        }),
        cooldown: 1
      },
      "policy.slowCallDuration: expected a finite duration above zero"
    ],
    [
      "second policy in array",
      { policy: [CircuitBreaker.consecutiveFailures(5), CircuitBreaker.consecutiveFailures(0)], cooldown: 1 },
      "policy[1].threshold: expected an integer of at least 1, got 0"
    ],
    [
      "unknown policy tag",
      { policy: { _tag: "Sometimes" }, cooldown: 1 },
      'policy: expected a trip policy whose _tag is "ConsecutiveFailures", "FailureRate" or "SlowCallRate"'
    ],
    ["empty policy array", { policy: [], cooldown: 1 }, "policy: expected a trip policy or a non-empty array of them"],
    [
      "policy with failureThreshold",
      { policy: CircuitBreaker.consecutiveFailures(3), failureThreshold: 3, cooldown: 1 },
      "failureThreshold: expected no value when policy is set"
    ],
    [
      "callTimeout zero",
      { failureThreshold: 1, cooldown: 1, callTimeout: 0 },
      "callTimeout: expected a finite duration above zero, such as"
    ],
    [
      "trialTimeout invalid",
      { failureThreshold: 1, cooldown: 1, trialTimeout: "later" },
      'trialTimeout: expected a finite duration above zero, such as "30 seconds" or a number of milliseconds, got "later"'
    ],
    [
      "maxCooldown below cooldown",
      { failureThreshold: 1, cooldown: "1 minute", maxCooldown: "10 seconds" },
      'maxCooldown: expected at least the cooldown (1m), got "10s"'
    ],
    [
      "mode unknown",
      { failureThreshold: 1, cooldown: 1, mode: "Off" },
      'mode: expected "Enabled" or "Disabled", got "Off"'
    ]
  ]

  for (const [title, options, message] of cases) {
    it.effect(`rejects ${title}`, () =>
      Effect.gen(function* () {
        const defect = yield* messageOf(options)
        assert.isDefined(defect, "expected the options to be rejected")
        expect(defect).toContain(message)
      })
    )
  }
})
