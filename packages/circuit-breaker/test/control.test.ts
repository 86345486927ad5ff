import { createServer } from "node:http"
import { HttpClient, HttpRouter } from "@effect/platform"
import { NodeHttpClient, NodeHttpServer } from "@effect/platform-node"
import { assert, describe, expect, it } from "@effect/vitest"
import { CircuitBreaker } from "@effect-resilience/circuit-breaker"
import * as HealthRoute from "@effect-resilience/circuit-breaker/HealthRoute"
import { Deferred, Duration, Effect, Fiber, Metric, Ref, TestClock, type Tracer } from "effect"
import { captureLogs, collectTransitions, failTimes, settle } from "./utils.js"

const cooldown = Duration.seconds(30)

let nameCount = 0
/** A breaker name used by no other test, so that metric series of different tests never mix. */
const uniqueName = (prefix: string) => `${prefix}-${++nameCount}-${Math.random().toString(36).slice(2, 8)}`

describe("manual control", () => {
  it.scoped("isolate rejects until reset", () =>
    Effect.gen(function* () {
      const breaker = yield* CircuitBreaker.make({ failureThreshold: 3, cooldown })
      const transitions = yield* collectTransitions(breaker)
      const runs = yield* Ref.make(0)

      yield* breaker.isolate
      yield* TestClock.adjust("1 hour")
      const rejection = yield* Effect.flip(breaker.protect(Ref.update(runs, (n) => n + 1)))
      const whileIsolated = yield* breaker.state
      yield* breaker.reset
      yield* breaker.protect(Ref.update(runs, (n) => n + 1))

      assert.isTrue(CircuitBreaker.isCircuitBreakerOpen(rejection))
      if (CircuitBreaker.isCircuitBreakerOpen(rejection)) {
        expect(rejection.state).toBe("Isolated")
        expect(Duration.isFinite(rejection.retryAfter)).toBe(false)
      }
      expect(whileIsolated).toEqual({ _tag: "Isolated" })
      expect(yield* Ref.get(runs)).toBe(1)
      expect(yield* transitions.read).toEqual(["Closed->Isolated", "Isolated->Closed"])
    })
  )

  it.scoped("reset closes and clears counts", () =>
    Effect.gen(function* () {
      const breaker = yield* CircuitBreaker.make({ failureThreshold: 3, cooldown })
      yield* failTimes(breaker, 3)
      expect((yield* breaker.state)._tag).toBe("Open")

      yield* breaker.reset
      yield* failTimes(breaker, 2)

      expect(yield* breaker.state).toEqual({ _tag: "Closed", consecutiveFailures: 2 })
    })
  )

  it.scoped("reset fences calls in flight", () =>
    Effect.gen(function* () {
      const breaker = yield* CircuitBreaker.make({ failureThreshold: 1, cooldown })
      const release = yield* Deferred.make<void>()
      const late = yield* Effect.fork(
        Effect.ignore(breaker.protect(Effect.zipRight(Deferred.await(release), Effect.fail("late"))))
      )
      yield* settle

      yield* breaker.reset
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(late)

      // The failure would open a breaker with threshold 1, but it was admitted before the reset.
      expect((yield* breaker.state)._tag).toBe("Closed")
    })
  )

  it.scoped("disable admits and never opens", () =>
    Effect.gen(function* () {
      const breaker = yield* CircuitBreaker.make({ failureThreshold: 2, cooldown })
      const transitions = yield* collectTransitions(breaker)

      yield* breaker.disable
      yield* failTimes(breaker, 50)
      const result = yield* breaker.protect(Effect.succeed("ran"))

      expect(result).toBe("ran")
      expect(yield* breaker.state).toEqual({ _tag: "Disabled" })
      expect(yield* transitions.read).toEqual(["Closed->Disabled"])
    })
  )

  it.scoped("mode option starts disabled", () =>
    Effect.gen(function* () {
      const breaker = yield* CircuitBreaker.make({ failureThreshold: 1, cooldown, mode: "Disabled" })

      yield* failTimes(breaker, 5)

      expect(yield* breaker.state).toEqual({ _tag: "Disabled" })
    })
  )

  it.scoped("second reset publishes nothing", () =>
    Effect.gen(function* () {
      const breaker = yield* CircuitBreaker.make({ failureThreshold: 1, cooldown })
      const transitions = yield* collectTransitions(breaker)
      yield* failTimes(breaker, 1)

      yield* breaker.reset
      yield* breaker.reset

      expect(yield* transitions.read).toEqual(["Closed->Open", "Open->Closed"])
    })
  )

  it.effect("commands are logged", () =>
    Effect.gen(function* () {
      const logs = yield* captureLogs
      yield* Effect.gen(function* () {
        const breaker = yield* CircuitBreaker.make({ name: "ops", failureThreshold: 1, cooldown })
        yield* breaker.isolate
        yield* breaker.reset
        yield* breaker.disable
      }).pipe(Effect.scoped, Effect.provide(logs.layer))

      const lines = (yield* logs.read).filter((line) => line.annotations.circuitBreaker === "ops")
      expect(lines.map((line) => `${line.level} ${line.message}`)).toEqual([
        "WARN Circuit breaker isolated by an operator",
        "INFO Circuit breaker reset by an operator",
        "INFO Circuit breaker disabled by an operator"
      ])
    })
  )

  it.effect("accessors use the breaker in context", () =>
    Effect.gen(function* () {
      const states = yield* Effect.gen(function* () {
        yield* CircuitBreaker.isolate
        const isolated = yield* CircuitBreaker.state
        yield* CircuitBreaker.disable
        const disabled = yield* CircuitBreaker.state
        yield* CircuitBreaker.reset
        const closed = yield* CircuitBreaker.state
        return [isolated._tag, disabled._tag, closed._tag]
      }).pipe(Effect.provide(CircuitBreaker.layer({ failureThreshold: 1, cooldown })))

      expect(states).toEqual(["Isolated", "Disabled", "Closed"])
    })
  )

  it.scoped("keyed isolate survives idleness", () =>
    Effect.gen(function* () {
      const breakers = yield* CircuitBreaker.keyed({ failureThreshold: 1, cooldown, idleTimeToLive: "1 second" })

      yield* breakers.isolate("payments")
      yield* TestClock.adjust("1 hour")

      expect(yield* breakers.state("payments")).toEqual({ _tag: "Isolated" })
      const rejected = yield* Effect.either(breakers.protect(Effect.void, "payments"))
      expect(rejected._tag).toBe("Left")
    })
  )

  it.scoped("state reads keep no circuit alive", () =>
    Effect.gen(function* () {
      const breakers = yield* CircuitBreaker.keyed({ failureThreshold: 5, cooldown, idleTimeToLive: "10 seconds" })
      yield* Effect.ignore(breakers.protect(Effect.fail("503"), "k"))

      for (let i = 0; i < 6; i++) {
        yield* TestClock.adjust("2 seconds")
        yield* breakers.state("k")
      }

      expect(yield* breakers.size).toBe(0)
    })
  )
})

/** The value of one metric series, found by name and labels in Effect's metric registry. */
const metricValue = (name: string, labels: Record<string, string>) =>
  Effect.map(Metric.snapshot, (pairs) => {
    const pair = pairs.find(
      (candidate) =>
        candidate.metricKey.name === name &&
        Object.entries(labels).every(([key, value]) =>
          candidate.metricKey.tags.some((tag) => tag.key === key && tag.value === value)
        ) &&
        candidate.metricKey.tags.length === Object.keys(labels).length
    )
    return pair?.metricState
  })

const counterValue = (name: string, labels: Record<string, string>) =>
  Effect.map(metricValue(name, labels), (state) =>
    state === undefined ? 0 : (state as unknown as { count: number }).count
  )

const gaugeValue = (name: string, labels: Record<string, string>) =>
  Effect.map(metricValue(name, labels), (state) =>
    state === undefined ? undefined : (state as unknown as { value: number }).value
  )

describe("metrics", () => {
  it.scoped("calls counted by outcome", () =>
    Effect.gen(function* () {
      const name = uniqueName("metrics")
      const breaker = yield* CircuitBreaker.make({
        name,
        failureThreshold: 3,
        cooldown,
        isFailure: (error) => error !== "bad request"
      })

      yield* breaker.protect(Effect.void)
      yield* breaker.protect(Effect.void)
      yield* Effect.ignore(breaker.protect(Effect.fail("bad request")))
      yield* failTimes(breaker, 3)
      yield* Effect.ignore(breaker.protect(Effect.void))
      yield* Effect.ignore(breaker.protect(Effect.void))

      const count = (outcome: string) => counterValue("circuit_breaker_calls_total", { circuit_breaker: name, outcome })
      expect(yield* count("success")).toBe(2)
      expect(yield* count("ignored")).toBe(1)
      expect(yield* count("failure")).toBe(3)
      expect(yield* count("rejected")).toBe(2)
    })
  )

  it.scoped("interrupted calls not counted", () =>
    Effect.gen(function* () {
      const name = uniqueName("interrupted")
      const breaker = yield* CircuitBreaker.make({ name, failureThreshold: 1, cooldown })
      const count = (outcome: string) => counterValue("circuit_breaker_calls_total", { circuit_breaker: name, outcome })

      // One call interrupted while Closed, and one interrupted while it runs as the HalfOpen trial.
      const closedCall = yield* Effect.fork(breaker.protect(Effect.never))
      yield* settle
      yield* Fiber.interrupt(closedCall)
      yield* Effect.ignore(breaker.protect(Effect.fail("503")))
      yield* TestClock.adjust(cooldown)
      const trial = yield* Effect.fork(breaker.protect(Effect.never))
      yield* settle
      yield* Fiber.interrupt(trial)

      expect(yield* count("ignored")).toBe(0)
      expect(yield* count("failure")).toBe(1)
      expect(yield* count("success")).toBe(0)
      // The interrupted trial still freed its slot, so the next call runs as the trial.
      expect(yield* breaker.state).toEqual({ _tag: "HalfOpen", trialSuccesses: 0, trialRunning: false })
    })
  )

  it.scoped("transitions and state gauge", () =>
    Effect.gen(function* () {
      const name = uniqueName("gauges")
      const breaker = yield* CircuitBreaker.make({ name, failureThreshold: 1, cooldown })
      const gauge = (state: string) => gaugeValue("circuit_breaker_state", { circuit_breaker: name, state })

      expect(yield* gauge("Closed")).toBe(1)
      yield* failTimes(breaker, 1)
      const whileOpen = [yield* gauge("Closed"), yield* gauge("Open")]
      yield* TestClock.adjust(cooldown)
      yield* breaker.protect(Effect.void)

      expect(whileOpen).toEqual([0, 1])
      expect(yield* gauge("Closed")).toBe(1)
      expect(yield* gauge("Open")).toBe(0)
      expect(yield* gauge("HalfOpen")).toBe(0)
      expect(
        yield* counterValue("circuit_breaker_transitions_total", { circuit_breaker: name, from: "Closed", to: "Open" })
      ).toBe(1)
      expect(
        yield* counterValue("circuit_breaker_transitions_total", {
          circuit_breaker: name,
          from: "HalfOpen",
          to: "Closed"
        })
      ).toBe(1)
    })
  )

  it.scoped("call durations recorded with durationMetric", () =>
    Effect.gen(function* () {
      const name = uniqueName("duration")
      const breaker = yield* CircuitBreaker.make({ name, failureThreshold: 3, cooldown, durationMetric: true })

      const fiber = yield* Effect.fork(breaker.protect(Effect.sleep("250 millis")))
      yield* settle
      yield* TestClock.adjust("250 millis")
      yield* Fiber.join(fiber)

      const state = (yield* metricValue("circuit_breaker_call_duration_ms", { circuit_breaker: name })) as unknown as {
        count: number
        sum: number
      }
      expect(state.count).toBe(1)
      expect(state.sum).toBe(250)
    })
  )

  it.scoped("no durations recorded by default", () =>
    Effect.gen(function* () {
      const name = uniqueName("no-duration")
      const breaker = yield* CircuitBreaker.make({ name, failureThreshold: 3, cooldown })

      yield* breaker.protect(Effect.void)
      yield* Effect.ignore(breaker.protect(Effect.fail("503")))

      expect(yield* counterValue("circuit_breaker_calls_total", { circuit_breaker: name, outcome: "success" })).toBe(1)
      expect(yield* counterValue("circuit_breaker_calls_total", { circuit_breaker: name, outcome: "failure" })).toBe(1)
      expect(yield* metricValue("circuit_breaker_call_duration_ms", { circuit_breaker: name })).toBeUndefined()
    })
  )

  it.scoped("keyed metrics labelled by name only", () =>
    Effect.gen(function* () {
      const name = uniqueName("keyed-metrics")
      const breakers = yield* CircuitBreaker.keyed({ name, failureThreshold: 1, cooldown })

      yield* Effect.ignore(breakers.protect(Effect.fail("503"), "a"))
      yield* Effect.ignore(breakers.protect(Effect.fail("503"), "b"))

      expect(yield* counterValue("circuit_breaker_calls_total", { circuit_breaker: name, outcome: "failure" })).toBe(2)
      expect(yield* gaugeValue("circuit_breaker_state", { circuit_breaker: name, state: "Open" })).toBe(2)
    })
  )

  it.scoped("keyed disabled mode keeps gauges whole", () =>
    Effect.gen(function* () {
      const name = uniqueName("keyed-disabled")
      const breakers = yield* CircuitBreaker.keyed({ name, failureThreshold: 1, cooldown, mode: "Disabled" })
      const gauge = (state: string) => gaugeValue("circuit_breaker_state", { circuit_breaker: name, state })

      yield* breakers.reset("a")
      yield* breakers.isolate("b")

      expect(yield* gauge("Disabled")).toBe(0)
      expect(yield* gauge("Closed")).toBe(1)
      expect(yield* gauge("Isolated")).toBe(1)
    })
  )

  it.scoped("metricsByKey adds the key label", () =>
    Effect.gen(function* () {
      const name = uniqueName("by-key")
      const breakers = yield* CircuitBreaker.keyed({ name, failureThreshold: 5, cooldown, metricsByKey: true })

      yield* Effect.ignore(breakers.protect(Effect.fail("503"), "a"))

      expect(
        yield* counterValue("circuit_breaker_calls_total", { circuit_breaker: name, outcome: "failure", key: "a" })
      ).toBe(1)
    })
  )
})

describe("spans", () => {
  it.scoped("span carries name and state", () =>
    Effect.gen(function* () {
      const breaker = yield* CircuitBreaker.make({ name: "traced", failureThreshold: 1, cooldown })

      const span = yield* breaker.protect(Effect.currentSpan).pipe(Effect.withSpan("call upstream"))

      const attributes = (span as Tracer.Span & { attributes: Map<string, unknown> }).attributes
      expect(attributes.get("circuit_breaker.name")).toBe("traced")
      expect(attributes.get("circuit_breaker.state")).toBe("Closed")
    })
  )

  it.scoped("trial span carries HalfOpen", () =>
    Effect.gen(function* () {
      // A trial is admitted under the mask, a path apart from the one of Closed calls.
      const breaker = yield* CircuitBreaker.make({ name: "traced", failureThreshold: 1, cooldown })
      yield* failTimes(breaker, 1)
      yield* TestClock.adjust(cooldown)

      const span = yield* breaker.protect(Effect.currentSpan).pipe(Effect.withSpan("trial call"))

      const attributes = (span as Tracer.Span & { attributes: Map<string, unknown> }).attributes
      expect(attributes.get("circuit_breaker.name")).toBe("traced")
      expect(attributes.get("circuit_breaker.state")).toBe("HalfOpen")
    })
  )

  it.scoped("rejection is a span event", () =>
    Effect.gen(function* () {
      const breaker = yield* CircuitBreaker.make({ name: "traced", failureThreshold: 1, cooldown })
      yield* failTimes(breaker, 1)

      const span = yield* Effect.gen(function* () {
        yield* Effect.ignore(breaker.protect(Effect.void))
        return yield* Effect.currentSpan
      }).pipe(Effect.withSpan("call upstream"))

      const events = (span as Tracer.Span & { events: Array<[string, bigint, Record<string, unknown>]> }).events
      expect(events.map(([eventName]) => eventName)).toEqual(["circuit_breaker.rejected"])
      expect(events[0]?.[2]).toEqual({
        "circuit_breaker.name": "traced",
        "circuit_breaker.state": "Open",
        "circuit_breaker.retry_after_ms": 30_000
      })
    })
  )
})

describe("health", () => {
  it.scoped("snapshot matches state", () =>
    Effect.gen(function* () {
      const name = uniqueName("health")
      const single = yield* CircuitBreaker.make({ name, failureThreshold: 2, cooldown })
      const keyedName = uniqueName("health-keyed")
      const keyed = yield* CircuitBreaker.keyed({ name: keyedName, failureThreshold: 1, cooldown })
      yield* failTimes(single, 1)
      yield* Effect.ignore(keyed.protect(Effect.fail("503"), "https://down.example"))
      yield* TestClock.adjust("10 seconds")

      const report = yield* CircuitBreaker.health

      const mine = report.breakers.filter((entry) => entry.name === name || entry.name === keyedName)
      expect(mine).toEqual([
        { name, state: "Closed", consecutiveFailures: 1 },
        { name: keyedName, key: "https://down.example", state: "Open", remainingCooldownMillis: 20_000 }
      ])
      const keyedState = yield* keyed.state("https://down.example")
      expect(keyedState).toEqual({ _tag: "Open", remainingCooldown: Duration.millis(20_000) })
    })
  )

  it.effect("closed scope leaves the registry", () =>
    Effect.gen(function* () {
      const name = uniqueName("gone")
      yield* Effect.scoped(CircuitBreaker.make({ name, failureThreshold: 1, cooldown }))

      const report = yield* CircuitBreaker.health

      expect(report.breakers.some((entry) => entry.name === name)).toBe(false)
    })
  )

  it.scoped("route serves JSON over HTTP", () =>
    Effect.gen(function* () {
      const name = uniqueName("route")
      const breaker = yield* CircuitBreaker.make({ name, failureThreshold: 1, cooldown })
      yield* failTimes(breaker, 1)

      const server = yield* NodeHttpServer.make(() => createServer(), { port: 0, host: "127.0.0.1" })
      yield* server.serve(HttpRouter.empty.pipe(HealthRoute.route()))
      const address = server.address
      assert.strictEqual(address._tag, "TcpAddress")
      const port = address._tag === "TcpAddress" ? address.port : 0

      const response = yield* HttpClient.get(`http://127.0.0.1:${port}${HealthRoute.defaultPath}`)
      const body = (yield* response.json) as CircuitBreaker.HealthReport
      const direct = yield* CircuitBreaker.health
      const state = yield* breaker.state

      expect(response.status).toBe(200)
      expect(response.headers["content-type"]).toContain("application/json")
      expect(body).toEqual(JSON.parse(JSON.stringify(direct)))
      const entry = body.breakers.find((candidate) => candidate.name === name)
      expect(entry).toEqual({ name, state: "Open", remainingCooldownMillis: 30_000 })
      expect(state._tag).toBe(entry?.state)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici))
  )
})
