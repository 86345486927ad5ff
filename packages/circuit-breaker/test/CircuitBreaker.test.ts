import { assert, describe, expect, it } from "@effect/vitest"
import { CircuitBreaker } from "@effect-resilience/circuit-breaker"
import {
  Cause,
  type Clock,
  Deferred,
  Duration,
  Effect,
  Exit,
  Fiber,
  FiberId,
  Logger,
  LogLevel,
  Ref,
  Scope,
  TestClock
} from "effect"
import { captureLogs, collectTransitions, failTimes, settle, stateTag } from "./utils.js"

const cooldown = Duration.seconds(30)

const makeBreaker = (options: Partial<CircuitBreaker.Options> = {}) =>
  CircuitBreaker.make({ name: "upstream", failureThreshold: 3, cooldown, ...options })

/** An effect that counts its runs and then succeeds. */
const counted = (runs: Ref.Ref<number>) => Ref.updateAndGet(runs, (n) => n + 1)

describe("Closed", () => {
  it.scoped("counts consecutive failures", () =>
    Effect.gen(function* () {
      const breaker = yield* makeBreaker()

      yield* failTimes(breaker, 2)

      expect(yield* breaker.state).toEqual({ _tag: "Closed", consecutiveFailures: 2 })
    })
  )

  it.scoped("success resets the failure count", () =>
    Effect.gen(function* () {
      const breaker = yield* makeBreaker()

      yield* failTimes(breaker, 2)
      yield* breaker.protect(Effect.void)
      yield* failTimes(breaker, 2)

      expect(yield* breaker.state).toEqual({ _tag: "Closed", consecutiveFailures: 2 })
    })
  )

  it.scoped("threshold failure opens at Clock time", () =>
    Effect.gen(function* () {
      const breaker = yield* makeBreaker()
      const transitions = yield* collectTransitions(breaker)
      yield* TestClock.adjust("5 seconds")

      yield* failTimes(breaker, 3)

      const [opened] = yield* transitions.all
      assert.isDefined(opened)
      expect(opened.from).toBe("Closed")
      expect(opened.to).toBe("Open")
      expect(opened.at).toBe(5_000)
      expect(opened.name).toBe("upstream")
      expect(yield* breaker.state).toEqual({ _tag: "Open", remainingCooldown: cooldown })
    })
  )

  it.scoped("one below threshold stays closed", () =>
    Effect.gen(function* () {
      const breaker = yield* makeBreaker({ failureThreshold: 1_000 })

      yield* failTimes(breaker, 999)

      expect(yield* stateTag(breaker)).toBe("Closed")
    })
  )
})

describe("Open", () => {
  it.scoped("rejects without running the effect", () =>
    Effect.gen(function* () {
      const breaker = yield* makeBreaker()
      const runs = yield* Ref.make(0)
      yield* failTimes(breaker, 3)
      yield* TestClock.adjust("10 seconds")

      const rejection = yield* Effect.flip(breaker.protect(counted(runs)))

      expect(yield* Ref.get(runs)).toBe(0)
      expect(rejection).toBeInstanceOf(CircuitBreaker.CircuitBreakerOpen)
      expect(rejection._tag).toBe("CircuitBreakerOpen")
      assert.isTrue(CircuitBreaker.isCircuitBreakerOpen(rejection))
      if (!CircuitBreaker.isCircuitBreakerOpen(rejection)) return
      expect(rejection.breakerName).toBe("upstream")
      expect(rejection.state).toBe("Open")
      expect(Duration.toMillis(rejection.retryAfter)).toBe(20_000)
      expect(rejection.message).toBe('Circuit breaker "upstream" is open; retry after 20s')
    })
  )

  it.scoped("printed rejection names its kind", () =>
    Effect.gen(function* () {
      const breaker = yield* makeBreaker()
      yield* failTimes(breaker, 3)

      const rejection = yield* Effect.flip(breaker.protect(Effect.void))

      expect(String(rejection)).toBe('CircuitBreakerOpen: Circuit breaker "upstream" is open; retry after 30s')
      expect(Cause.pretty(Cause.fail(rejection))).toContain("CircuitBreakerOpen: ")
    })
  )

  it.scoped("each rejection has its own cooldown", () =>
    Effect.gen(function* () {
      const breaker = yield* makeBreaker()
      yield* failTimes(breaker, 3)
      const retryAfter = Effect.map(Effect.flip(breaker.protect(Effect.void)), (rejection) =>
        CircuitBreaker.isCircuitBreakerOpen(rejection) ? Duration.toMillis(rejection.retryAfter) : -1
      )

      // Rejections within one millisecond may share one error; a later one must not reuse it.
      const first = yield* retryAfter
      const sameTime = yield* retryAfter
      yield* TestClock.adjust("10 seconds")
      const later = yield* retryAfter
      yield* breaker.isolate
      const isolated = yield* Effect.flip(breaker.protect(Effect.void))

      expect(first).toBe(30_000)
      expect(sameTime).toBe(30_000)
      expect(later).toBe(20_000)
      assert.isTrue(CircuitBreaker.isCircuitBreakerOpen(isolated))
      if (!CircuitBreaker.isCircuitBreakerOpen(isolated)) return
      expect(isolated.state).toBe("Isolated")
    })
  )

  it.scoped("late failures change nothing", () =>
    Effect.gen(function* () {
      const breaker = yield* makeBreaker()
      const transitions = yield* collectTransitions(breaker)
      const release = yield* Deferred.make<void>()
      const late = yield* Effect.fork(
        Effect.all(
          Array.from({ length: 5 }, () =>
            Effect.flip(breaker.protect(Effect.zipRight(Deferred.await(release), Effect.fail("late"))))
          ),
          { concurrency: "unbounded" }
        )
      )
      yield* settle

      yield* failTimes(breaker, 3)
      yield* TestClock.adjust("10 seconds")
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(late)

      expect(yield* transitions.read).toEqual(["Closed->Open"])
      expect(yield* breaker.state).toEqual({ _tag: "Open", remainingCooldown: Duration.seconds(20) })
    })
  )

  it.scoped("late failures carry no count forward", () =>
    Effect.gen(function* () {
      const breaker = yield* makeBreaker({ failureThreshold: 2 })
      const release = yield* Deferred.make<void>()
      const late = yield* Effect.fork(
        Effect.flip(breaker.protect(Effect.zipRight(Deferred.await(release), Effect.fail("late"))))
      )
      yield* settle

      yield* failTimes(breaker, 2)
      yield* TestClock.adjust(cooldown)
      yield* breaker.protect(Effect.void)
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(late)

      expect(yield* breaker.state).toEqual({ _tag: "Closed", consecutiveFailures: 0 })
    })
  )
})

describe("cooldown", () => {
  it.scoped("publishes HalfOpen without any call", () =>
    Effect.gen(function* () {
      const breaker = yield* makeBreaker()
      const transitions = yield* collectTransitions(breaker)
      yield* failTimes(breaker, 3)

      yield* TestClock.adjust(cooldown)

      expect(yield* transitions.read).toEqual(["Closed->Open", "Open->HalfOpen"])
      const halfOpen = (yield* transitions.all)[1]
      expect(halfOpen?.at).toBe(30_000)
    })
  )

  it.scoped("reads HalfOpen right after adjust", () =>
    Effect.gen(function* () {
      const breaker = yield* makeBreaker()
      yield* failTimes(breaker, 3)

      yield* TestClock.adjust(cooldown)

      expect(yield* breaker.state).toEqual({ _tag: "HalfOpen", trialSuccesses: 0, trialRunning: false })
    })
  )

  it.scoped("stays Open until the cooldown ends", () =>
    Effect.gen(function* () {
      const breaker = yield* makeBreaker()
      const transitions = yield* collectTransitions(breaker)
      yield* failTimes(breaker, 3)

      yield* TestClock.adjust(Duration.subtract(cooldown, Duration.millis(1)))

      expect(yield* breaker.state).toEqual({ _tag: "Open", remainingCooldown: Duration.millis(1) })
      expect(yield* transitions.read).toEqual(["Closed->Open"])
    })
  )

  it.scoped("timer publishes before any read", () =>
    Effect.gen(function* () {
      const breaker = yield* makeBreaker()
      const transitions = yield* collectTransitions(breaker)
      yield* failTimes(breaker, 3)

      // Read transitions only, never the state, so a lazy read cannot stand in for the timer.
      yield* TestClock.adjust(cooldown)
      const seen = yield* transitions.read

      expect(seen).toEqual(["Closed->Open", "Open->HalfOpen"])
    })
  )
})

describe("HalfOpen", () => {
  const openThenCool = (breaker: CircuitBreaker.CircuitBreaker) =>
    Effect.zipRight(failTimes(breaker, 3), TestClock.adjust(cooldown))

  it.scoped("runs one trial whatever the concurrency", () =>
    Effect.gen(function* () {
      const breaker = yield* makeBreaker()
      yield* openThenCool(breaker)
      const runs = yield* Ref.make(0)
      const release = yield* Deferred.make<void>()
      const trial = Effect.zipRight(counted(runs), Deferred.await(release))

      const calls = yield* Effect.fork(
        Effect.all(
          Array.from({ length: 100 }, () => Effect.either(breaker.protect(trial))),
          { concurrency: "unbounded" }
        )
      )
      yield* settle
      const during = yield* breaker.state
      yield* Deferred.succeed(release, undefined)
      const results = yield* Fiber.join(calls)

      expect(yield* Ref.get(runs)).toBe(1)
      expect(during).toEqual({ _tag: "HalfOpen", trialSuccesses: 0, trialRunning: true })
      const rejected = results.filter((result) => result._tag === "Left")
      expect(rejected).toHaveLength(99)
      for (const result of rejected) {
        if (result._tag !== "Left" || !CircuitBreaker.isCircuitBreakerOpen(result.left)) continue
        expect(result.left.state).toBe("HalfOpen")
        expect(Duration.toMillis(result.left.retryAfter)).toBe(0)
      }
    })
  )

  it.scoped("trial success closes with counts reset", () =>
    Effect.gen(function* () {
      const breaker = yield* makeBreaker()
      const transitions = yield* collectTransitions(breaker)
      yield* openThenCool(breaker)

      yield* breaker.protect(Effect.void)

      expect(yield* breaker.state).toEqual({ _tag: "Closed", consecutiveFailures: 0 })
      expect(yield* transitions.read).toEqual(["Closed->Open", "Open->HalfOpen", "HalfOpen->Closed"])
    })
  )

  it.scoped("successThreshold needs trials in a row", () =>
    Effect.gen(function* () {
      const breaker = yield* makeBreaker({ successThreshold: 3 })
      yield* openThenCool(breaker)

      yield* breaker.protect(Effect.void)
      expect(yield* breaker.state).toEqual({ _tag: "HalfOpen", trialSuccesses: 1, trialRunning: false })
      yield* breaker.protect(Effect.void)
      expect(yield* breaker.state).toEqual({ _tag: "HalfOpen", trialSuccesses: 2, trialRunning: false })
      yield* breaker.protect(Effect.void)

      expect(yield* breaker.state).toEqual({ _tag: "Closed", consecutiveFailures: 0 })
    })
  )

  it.scoped("next trial waits for the previous", () =>
    Effect.gen(function* () {
      const breaker = yield* makeBreaker({ successThreshold: 2 })
      yield* openThenCool(breaker)
      const release = yield* Deferred.make<void>()

      const first = yield* Effect.fork(breaker.protect(Deferred.await(release)))
      yield* settle
      const whileRunning = yield* Effect.either(breaker.protect(Effect.void))
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(first)
      const afterSuccess = yield* Effect.either(breaker.protect(Effect.void))

      expect(whileRunning._tag).toBe("Left")
      expect(afterSuccess._tag).toBe("Right")
      expect(yield* stateTag(breaker)).toBe("Closed")
    })
  )

  it.scoped("trial failure reopens with fresh cooldown", () =>
    Effect.gen(function* () {
      const breaker = yield* makeBreaker()
      const transitions = yield* collectTransitions(breaker)
      yield* openThenCool(breaker)
      yield* TestClock.adjust("7 seconds")

      yield* Effect.flip(breaker.protect(Effect.fail("still down")))

      expect(yield* breaker.state).toEqual({ _tag: "Open", remainingCooldown: cooldown })
      expect(yield* transitions.read).toEqual(["Closed->Open", "Open->HalfOpen", "HalfOpen->Open"])
      const reopened = (yield* transitions.all)[2]
      expect(reopened?.at).toBe(37_000)

      yield* TestClock.adjust(cooldown)
      expect(yield* stateTag(breaker)).toBe("HalfOpen")
    })
  )

  it.scoped("trial failure after earlier successes reopens", () =>
    Effect.gen(function* () {
      const breaker = yield* makeBreaker({ successThreshold: 3 })
      yield* openThenCool(breaker)

      yield* breaker.protect(Effect.void)
      yield* breaker.protect(Effect.void)
      yield* Effect.flip(breaker.protect(Effect.fail("still down")))

      expect(yield* stateTag(breaker)).toBe("Open")
      yield* TestClock.adjust(cooldown)
      expect(yield* breaker.state).toEqual({ _tag: "HalfOpen", trialSuccesses: 0, trialRunning: false })
    })
  )

  it.scoped("late success is no trial success", () =>
    Effect.gen(function* () {
      const breaker = yield* makeBreaker()
      const release = yield* Deferred.make<void>()
      const late = yield* Effect.fork(breaker.protect(Deferred.await(release)))
      yield* settle

      yield* openThenCool(breaker)
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(late)

      expect(yield* breaker.state).toEqual({ _tag: "HalfOpen", trialSuccesses: 0, trialRunning: false })
    })
  )

  it.scoped("late success does not free the trial slot", () =>
    Effect.gen(function* () {
      const breaker = yield* makeBreaker()
      const release = yield* Deferred.make<void>()
      const trialRelease = yield* Deferred.make<void>()
      const late = yield* Effect.fork(breaker.protect(Deferred.await(release)))
      yield* settle
      yield* openThenCool(breaker)

      const trial = yield* Effect.fork(breaker.protect(Deferred.await(trialRelease)))
      yield* settle
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(late)
      const other = yield* Effect.either(breaker.protect(Effect.void))

      expect(other._tag).toBe("Left")
      expect(yield* breaker.state).toEqual({ _tag: "HalfOpen", trialSuccesses: 0, trialRunning: true })
      yield* Deferred.succeed(trialRelease, undefined)
      yield* Fiber.join(trial)
      expect(yield* stateTag(breaker)).toBe("Closed")
    })
  )

  it.scoped("first call after cooldown is the trial", () =>
    Effect.gen(function* () {
      const breaker = yield* makeBreaker()
      yield* failTimes(breaker, 3)
      yield* TestClock.adjust(cooldown)

      const result = yield* Effect.either(breaker.protect(Effect.succeed("ok")))

      expect(result._tag).toBe("Right")
      expect(yield* stateTag(breaker)).toBe("Closed")
    })
  )
})

describe("outcomes", () => {
  it.scoped("isFailure false counts nothing", () =>
    Effect.gen(function* () {
      const breaker = yield* makeBreaker({ isFailure: (error) => error !== "not found" })

      yield* failTimes(breaker, 2)
      yield* Effect.flip(breaker.protect(Effect.fail("not found")))

      expect(yield* breaker.state).toEqual({ _tag: "Closed", consecutiveFailures: 2 })
    })
  )

  it.scoped("isFailure true counts a failure", () =>
    Effect.gen(function* () {
      const breaker = yield* makeBreaker({ isFailure: (error) => error === "503" })

      yield* Effect.flip(breaker.protect(Effect.fail("503")))

      expect(yield* breaker.state).toEqual({ _tag: "Closed", consecutiveFailures: 1 })
    })
  )

  it.scoped("defect counts as failure", () =>
    Effect.gen(function* () {
      const breaker = yield* makeBreaker({ isFailure: () => false })

      const exit = yield* Effect.exit(breaker.protect(Effect.die(new Error("bug"))))

      assert.isTrue(Exit.isFailure(exit) && Cause.isDie(exit.cause))
      expect(yield* breaker.state).toEqual({ _tag: "Closed", consecutiveFailures: 1 })
    })
  )

  it.scoped("interruption counts nothing in Closed", () =>
    Effect.gen(function* () {
      const breaker = yield* makeBreaker()
      yield* failTimes(breaker, 2)

      const call = yield* Effect.fork(breaker.protect(Effect.never))
      yield* settle
      yield* Fiber.interrupt(call)

      expect(yield* breaker.state).toEqual({ _tag: "Closed", consecutiveFailures: 2 })
    })
  )

  it.scoped("opening survives an interruption", () =>
    Effect.gen(function* () {
      // The breaker's clock interrupts the calling fiber on the read inside the step that records the failure, the
      // last moment before the opening is logged and its cooldown scheduled.
      const testClock = yield* Effect.clock
      let onRead: (() => void) | undefined
      const clock: Clock.Clock = Object.assign(Object.create(Object.getPrototypeOf(testClock)), testClock, {
        unsafeCurrentTimeMillis: () => {
          const hook = onRead
          onRead = undefined
          hook?.()
          return testClock.unsafeCurrentTimeMillis()
        }
      })
      const logs = yield* captureLogs
      const breaker = yield* makeBreaker({ failureThreshold: 1 }).pipe(Effect.withClock(clock))
      const transitions = yield* collectTransitions(breaker)
      const failing = Effect.withFiberRuntime<never, string>((fiber) => {
        onRead = () => fiber.unsafeInterruptAsFork(FiberId.none)
        return Effect.fail("upstream failed")
      })

      const call = yield* Effect.fork(breaker.protect(failing).pipe(Effect.provide(logs.layer)))
      const exit = yield* Fiber.await(call)
      yield* TestClock.adjust(cooldown)

      expect(Exit.isInterrupted(exit)).toBe(true)
      // The cooldown ended on its timer, with no call and no read of the state.
      expect(yield* transitions.read).toEqual(["Closed->Open", "Open->HalfOpen"])
      expect((yield* logs.read).map((log) => log.message)).toContain(
        "Circuit breaker opened after 1 consecutive failure; rejecting calls for 30s"
      )
    })
  )

  it.scoped("interrupted trial frees the slot", () =>
    Effect.gen(function* () {
      const breaker = yield* makeBreaker()
      yield* failTimes(breaker, 3)
      yield* TestClock.adjust(cooldown)

      const trial = yield* Effect.fork(breaker.protect(Effect.never))
      yield* settle
      expect(yield* breaker.state).toEqual({ _tag: "HalfOpen", trialSuccesses: 0, trialRunning: true })
      yield* Fiber.interrupt(trial)

      expect(yield* breaker.state).toEqual({ _tag: "HalfOpen", trialSuccesses: 0, trialRunning: false })
      const next = yield* Effect.either(breaker.protect(Effect.succeed("ok")))
      expect(next._tag).toBe("Right")
      expect(yield* stateTag(breaker)).toBe("Closed")
    })
  )

  it.scoped("uncounted trial frees the slot", () =>
    Effect.gen(function* () {
      const breaker = yield* makeBreaker({ isFailure: (error) => error !== "bad request" })
      yield* failTimes(breaker, 3)
      yield* TestClock.adjust(cooldown)

      yield* Effect.flip(breaker.protect(Effect.fail("bad request")))

      expect(yield* breaker.state).toEqual({ _tag: "HalfOpen", trialSuccesses: 0, trialRunning: false })
      const next = yield* Effect.either(breaker.protect(Effect.void))
      expect(next._tag).toBe("Right")
    })
  )

  it.scoped("interrupting the caller of a masked trial frees it", () =>
    Effect.gen(function* () {
      const breaker = yield* makeBreaker()
      yield* failTimes(breaker, 3)
      yield* TestClock.adjust(cooldown)

      // The trial effect itself runs interruptibly inside protect, even though protect masks admission.
      const trial = yield* Effect.fork(breaker.protect(Effect.sleep("1 hour")))
      yield* settle
      yield* Fiber.interrupt(trial)

      expect(yield* breaker.state).toEqual({ _tag: "HalfOpen", trialSuccesses: 0, trialRunning: false })
    })
  )

  it.effect("isFailure throwing counts and logs", () =>
    Effect.gen(function* () {
      const logs = yield* captureLogs
      yield* Effect.gen(function* () {
        const breaker = yield* makeBreaker({
          isFailure: () => {
            throw new Error("classifier bug")
          }
        })

        const error = yield* Effect.flip(breaker.protect(Effect.fail("original error")))

        expect(error).toBe("original error")
        expect(yield* breaker.state).toEqual({ _tag: "Closed", consecutiveFailures: 1 })
      }).pipe(Effect.scoped, Effect.provide(logs.layer), Logger.withMinimumLogLevel(LogLevel.All))

      const lines = yield* logs.read
      const thrown = lines.filter((line) => line.message.includes("isFailure threw"))
      expect(thrown).toHaveLength(1)
      expect(thrown[0]?.level).toBe("DEBUG")
      expect(thrown[0]?.cause).toContain("classifier bug")
      expect(thrown[0]?.annotations.circuitBreaker).toBe("upstream")
    })
  )
})

describe("concurrency and scope", () => {
  it.scoped("concurrent failures lose no update", () =>
    Effect.gen(function* () {
      const breaker = yield* makeBreaker({ failureThreshold: 10_000 })

      yield* Effect.all(
        Array.from({ length: 5_000 }, () =>
          Effect.ignore(breaker.protect(Effect.zipRight(Effect.yieldNow(), Effect.fail("down"))))
        ),
        { concurrency: "unbounded", discard: true }
      )

      expect(yield* breaker.state).toEqual({ _tag: "Closed", consecutiveFailures: 5_000 })
    })
  )

  it.scoped("concurrent failures open exactly once", () =>
    Effect.gen(function* () {
      const breaker = yield* makeBreaker({ failureThreshold: 50 })
      const transitions = yield* collectTransitions(breaker)

      yield* Effect.all(
        Array.from({ length: 500 }, () =>
          Effect.ignore(breaker.protect(Effect.zipRight(Effect.yieldNow(), Effect.fail("down"))))
        ),
        { concurrency: "unbounded", discard: true }
      )

      expect(yield* transitions.read).toEqual(["Closed->Open"])
    })
  )

  it.effect("closing the scope leaves no timer", () =>
    Effect.gen(function* () {
      const logs = yield* captureLogs
      yield* Effect.gen(function* () {
        const scope = yield* Scope.make()
        const breaker = yield* Scope.extend(makeBreaker(), scope)
        yield* failTimes(breaker, 3)
        yield* settle

        yield* Scope.close(scope, Exit.void)
        yield* TestClock.adjust(cooldown)
      }).pipe(Effect.provide(logs.layer))

      // The cooldown timer logs the move to HalfOpen when it runs; after the scope closed it must not run.
      const lines = (yield* logs.read).map((line) => `${line.annotations.from}->${line.annotations.to}`)
      expect(lines).toEqual(["Closed->Open"])
    })
  )
})

describe("transitions and logs", () => {
  it.effect("full cycle published and logged once", () =>
    Effect.gen(function* () {
      const logs = yield* captureLogs
      const seen = yield* Effect.gen(function* () {
        const breaker = yield* makeBreaker({ name: "llm-api" })
        const transitions = yield* collectTransitions(breaker)

        yield* failTimes(breaker, 3)
        yield* TestClock.adjust(cooldown)
        yield* Effect.flip(breaker.protect(Effect.fail("still down")))
        yield* TestClock.adjust(cooldown)
        yield* breaker.protect(Effect.void)

        return yield* transitions.all
      }).pipe(Effect.scoped, Effect.provide(logs.layer))

      expect(seen.map((t) => `${t.from}->${t.to}`)).toEqual([
        "Closed->Open",
        "Open->HalfOpen",
        "HalfOpen->Open",
        "Open->HalfOpen",
        "HalfOpen->Closed"
      ])
      for (const transition of seen) {
        expect(transition.name).toBe("llm-api")
      }

      const lines = (yield* logs.read).filter((line) => line.annotations.circuitBreaker === "llm-api")
      expect(lines.map((line) => `${line.level} ${line.annotations.from}->${line.annotations.to}`)).toEqual([
        "WARN Closed->Open",
        "INFO Open->HalfOpen",
        "WARN HalfOpen->Open",
        "INFO Open->HalfOpen",
        "INFO HalfOpen->Closed"
      ])
      expect(lines[0]?.message).toBe("Circuit breaker opened after 3 consecutive failures; rejecting calls for 30s")
    })
  )

  it.scoped("each subscriber sees each transition", () =>
    Effect.gen(function* () {
      const breaker = yield* makeBreaker()
      const first = yield* collectTransitions(breaker)
      const second = yield* collectTransitions(breaker)

      yield* failTimes(breaker, 3)
      yield* TestClock.adjust(cooldown)
      yield* breaker.protect(Effect.void)

      const expected = ["Closed->Open", "Open->HalfOpen", "HalfOpen->Closed"]
      expect(yield* first.read).toEqual(expected)
      expect(yield* second.read).toEqual(expected)
    })
  )
})

describe("service accessors", () => {
  it.effect("layer provides protect and state", () =>
    Effect.gen(function* () {
      const runs = yield* Ref.make(0)

      const result = yield* Effect.gen(function* () {
        yield* Effect.ignore(CircuitBreaker.protect(Effect.fail("down")))
        const afterFailure = yield* CircuitBreaker.state
        const value = yield* CircuitBreaker.protect(counted(runs))
        return { afterFailure, value }
      }).pipe(Effect.provide(CircuitBreaker.layer({ failureThreshold: 2, cooldown: "1 minute" })))

      expect(result.afterFailure).toEqual({ _tag: "Closed", consecutiveFailures: 1 })
      expect(result.value).toBe(1)
    })
  )

  it.effect("layer default name is default", () =>
    Effect.gen(function* () {
      const rejection = yield* Effect.gen(function* () {
        yield* Effect.ignore(CircuitBreaker.protect(Effect.fail("down")))
        return yield* Effect.flip(CircuitBreaker.protect(Effect.void))
      }).pipe(Effect.provide(CircuitBreaker.layer({ failureThreshold: 1, cooldown: "1 minute" })))

      expect(rejection.breakerName).toBe("default")
    })
  )
})
