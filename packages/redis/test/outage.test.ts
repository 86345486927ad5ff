import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { CircuitBreaker } from "@effect-resilience/circuit-breaker"
import { RedisStore } from "@effect-resilience/redis"
import { Cause, Deferred, Duration, Effect, Exit, Fiber, Layer, Metric, Ref } from "effect"
import { type CapturedLog, captureLogs, failTimes } from "../../circuit-breaker/test/utils.js"
import { eventually, inspector, uniqueName, useRedisServer } from "./utils.js"

// This file stops, pauses and restarts its own Redis; every test leaves it running.

const redis = useRedisServer({ beforeAll, afterAll })
const prefix = "outage-test"
const cooldown = Duration.seconds(30)

const outageLines = (lines: ReadonlyArray<CapturedLog>) => lines.filter((line) => line.message.includes("unreachable"))
const recoveryLines = (lines: ReadonlyArray<CapturedLog>) =>
  lines.filter((line) => line.message.includes("reachable again"))

/** How a call ended, in one word: its value, its typed error, a rejection, or anything else (which must not happen). */
const outcome = <A>(exit: Exit.Exit<A, unknown>): string => {
  if (Exit.isSuccess(exit)) return "ok"
  const failure = Cause.failureOption(exit.cause)
  if (failure._tag === "None") return "defect"
  const error = failure.value
  return CircuitBreaker.isCircuitBreakerOpen(error) ? `rejected ${error.state}` : String(error)
}

/** Runs `body` with a logger that keeps every line, and hands it the lines. */
const withLogs = <A, E, R>(body: (read: Effect.Effect<ReadonlyArray<CapturedLog>>) => Effect.Effect<A, E, R>) =>
  Effect.flatMap(captureLogs, (logs) => Effect.provide(body(logs.read), logs.layer))

const outageCount = Effect.map(Metric.value(RedisStore.outages), (state) => state.count)

describe("redis outage", () => {
  it.scoped("fallback carries calls through an outage", () =>
    withLogs((logs) =>
      Effect.gen(function* () {
        const server = redis.current()
        const client = yield* inspector(server.url)
        const name = uniqueName("fallback")
        const store = yield* Layer.build(RedisStore.layer({ url: server.url, prefix }))
        const breaker = yield* CircuitBreaker.make({ name, failureThreshold: 3, cooldown }).pipe(Effect.provide(store))
        const outagesBefore = yield* outageCount
        yield* failTimes(breaker, 2)
        const beforeOutage = yield* breaker.state

        yield* server.stop
        const during = yield* Effect.forEach(Array.from({ length: 5 }), () =>
          Effect.map(Effect.exit(breaker.protect(Effect.fail("503"))), outcome)
        )
        const linesDuring = yield* logs
        const outagesDuring = (yield* outageCount) - outagesBefore

        yield* server.restart
        yield* eventually(logs, (lines) => recoveryLines(lines).length > 0)
        const afterRecovery = yield* breaker.state
        yield* failTimes(breaker, 1)
        const linesAfter = yield* logs

        expect(beforeOutage).toEqual({ _tag: "Closed", consecutiveFailures: 2 })
        // The fallback starts Closed: three failures open it, then it rejects.
        expect(during).toEqual(["503", "503", "503", "rejected Open", "rejected Open"])
        expect(outageLines(linesDuring)).toHaveLength(1)
        expect(outageLines(linesDuring)[0]!.cause).not.toBe("")
        expect(outagesDuring).toBe(1)
        // The restarted Redis is empty, and the fallback's Open circuit was discarded.
        expect(afterRecovery).toEqual({ _tag: "Closed", consecutiveFailures: 0 })
        expect(yield* Effect.promise(() => client.hget(RedisStore.keyOf(prefix, name, ""), "cf"))).toBe("1")
        expect(outageLines(linesAfter)).toHaveLength(1)
        expect(recoveryLines(linesAfter)).toHaveLength(1)
      })
    )
  )

  it.scoped("fallback outcomes stay out of redis", () =>
    withLogs((logs) =>
      Effect.gen(function* () {
        const server = redis.current()
        const client = yield* inspector(server.url)
        const name = uniqueName("stray")
        const store = yield* Layer.build(RedisStore.layer({ url: server.url, prefix }))
        const breaker = yield* CircuitBreaker.make({ name, failureThreshold: 1, cooldown }).pipe(Effect.provide(store))

        yield* server.stop
        const started = yield* Deferred.make<void>()
        const release = yield* Deferred.make<void>()
        const stray = yield* Effect.fork(
          breaker.protect(
            Deferred.succeed(started, undefined).pipe(
              Effect.zipRight(Deferred.await(release)),
              Effect.zipRight(Effect.fail("503"))
            )
          )
        )
        yield* Deferred.await(started)
        yield* server.restart
        yield* eventually(logs, (lines) => recoveryLines(lines).length > 0)
        yield* Deferred.succeed(release, undefined)
        yield* Effect.flip(Fiber.join(stray))

        // The call was admitted by the fallback, so its failure (which would open a threshold of 1) counts nowhere once
        // Redis is back.
        expect(yield* breaker.state).toEqual({ _tag: "Closed", consecutiveFailures: 0 })
        expect(yield* Effect.promise(() => client.exists(RedisStore.keyOf(prefix, name, "")))).toBe(0)
      })
    )
  )

  it.scoped("fail closed rejects while unreachable", () =>
    withLogs(() =>
      Effect.gen(function* () {
        const server = redis.current()
        const store = yield* Layer.build(RedisStore.layer({ url: server.url, prefix, onUnavailable: "failClosed" }))
        const breaker = yield* CircuitBreaker.make({ name: uniqueName("closed"), failureThreshold: 3, cooldown }).pipe(
          Effect.provide(store)
        )
        const runs = yield* Ref.make(0)
        const call = Effect.map(Effect.exit(breaker.protect(Ref.update(runs, (n) => n + 1))), outcome)

        const before = yield* call
        yield* server.stop
        const during = yield* Effect.all([call, call, call])
        const stateDuring = yield* breaker.state
        yield* server.restart
        yield* eventually(call, (result) => result === "ok")

        expect(before).toBe("ok")
        expect(during).toEqual(["rejected Open", "rejected Open", "rejected Open"])
        expect(stateDuring._tag).toBe("Open")
        expect(yield* Ref.get(runs)).toBe(2)
      })
    )
  )

  it.scoped("unreachable at startup uses fallback", () =>
    withLogs((logs) =>
      Effect.gen(function* () {
        const server = redis.current()
        yield* server.stop
        const store = yield* Layer.build(RedisStore.layer({ url: server.url, prefix }))
        const breaker = yield* CircuitBreaker.make({ name: uniqueName("startup"), failureThreshold: 3, cooldown }).pipe(
          Effect.provide(store)
        )

        const result = yield* breaker.protect(Effect.succeed("ran"))
        const linesDuring = yield* logs
        yield* server.restart
        yield* eventually(logs, (lines) => recoveryLines(lines).length > 0)

        expect(result).toBe("ran")
        expect(outageLines(linesDuring)).toHaveLength(1)
        expect(recoveryLines(yield* logs)).toHaveLength(1)
      })
    )
  )

  it.scoped("hung redis costs one command timeout", () =>
    withLogs((logs) =>
      Effect.gen(function* () {
        const server = redis.current()
        const store = yield* Layer.build(RedisStore.layer({ url: server.url, prefix, commandTimeout: "200 millis" }))
        const breaker = yield* CircuitBreaker.make({ name: uniqueName("hung"), failureThreshold: 3, cooldown }).pipe(
          Effect.provide(store)
        )
        yield* breaker.protect(Effect.void)
        const outagesBefore = yield* outageCount

        yield* server.pause
        // Ten calls are in flight when Redis stops replying. Each waits out the command timeout, and the outage is still
        // logged once.
        const first = yield* Effect.forEach(
          Array.from({ length: 10 }, (_, index) => index),
          (index) => timed(breaker.protect(Effect.succeed(index))),
          { concurrency: "unbounded" }
        )
        const later = yield* Effect.forEach(Array.from({ length: 20 }), () => timed(breaker.protect(Effect.void)))
        const outagesDuring = (yield* outageCount) - outagesBefore
        yield* server.resume
        yield* eventually(logs, (lines) => recoveryLines(lines).length > 0)

        expect(first.map((call) => call.value)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
        expect(Math.min(...first.map((call) => call.millis))).toBeGreaterThanOrEqual(190)
        expect(Math.max(...first.map((call) => call.millis))).toBeLessThan(1_000)
        // The calls after it go straight to the fallback.
        expect(Math.max(...later.map((call) => call.millis))).toBeLessThan(50)
        expect(outagesDuring).toBe(1)
        expect(outageLines(yield* logs)).toHaveLength(1)
      })
    )
  )
})

/** Runs `effect` and measures its real duration in milliseconds: command timeouts run on real time, not `Clock`. */
const timed = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const start = performance.now()
    const value = yield* effect
    return { value, millis: performance.now() - start }
  })
