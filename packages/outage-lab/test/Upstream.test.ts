import { Headers, HttpClient, HttpClientRequest } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { Scenario, Upstream } from "../src/index.js"

// Time scale 1: scenario seconds are wall seconds. Each phase lasts one second and the checks run in the middle of a
// phase, far from its edges, so a slow machine shifts nothing.
const phased: Upstream.Options = {
  seed: 1,
  timeScale: 1,
  phases: { healthySeconds: 1, degradedSeconds: 1, recoveredSeconds: 60 },
  upstream: {
    ...Scenario.defaultScenario.upstream,
    successLatencySeconds: 0.002,
    errorLatencySeconds: 0.002,
    rateLimitLatencySeconds: 0.002,
    degradedErrorRate: 1,
    degradedStatus: 502,
    capacity: { requestsPerWindow: 5, windowSeconds: 1 }
  }
}

// One request at a time; each result is the status and the Retry-After header, if any.
const responses = (upstream: Upstream.Upstream, count: number) =>
  Effect.flatMap(HttpClient.HttpClient, (client) =>
    Effect.forEach(Array.from({ length: count }), () =>
      client.execute(HttpClientRequest.post(`${upstream.url}/v1/completions`)).pipe(
        Effect.tap((response) => response.arrayBuffer),
        Effect.map((response) => `${response.status}${retryAfterOf(response.headers)}`)
      )
    )
  )

const retryAfterOf = (headers: Headers.Headers) =>
  Option.match(Headers.get(headers, "retry-after"), { onNone: () => "", onSome: (value) => ` retry-after ${value}` })

const statuses = (upstream: Upstream.Upstream, count: number) =>
  Effect.flatMap(HttpClient.HttpClient, (client) =>
    Effect.forEach(Array.from({ length: count }), () =>
      client.execute(HttpClientRequest.post(`${upstream.url}/v1/completions`)).pipe(
        Effect.tap((response) => response.arrayBuffer),
        Effect.map((response) => response.status)
      )
    )
  )

const sleepUntil = (upstream: Upstream.Upstream, seconds: number) =>
  Effect.flatMap(upstream.scenarioTime, (now) => Effect.sleep(`${Math.max(0, (seconds - now) * 1000)} millis`))

describe("Upstream.phaseAt", () => {
  const phases = { healthySeconds: 10, degradedSeconds: 20, recoveredSeconds: 30 }

  it("starts healthy", () => {
    expect(Upstream.phaseAt(phases, 0)).toBe("Healthy")
  })

  it("degrades at the boundary", () => {
    expect(Upstream.phaseAt(phases, 10)).toBe("Degraded")
  })

  it("recovers at the boundary", () => {
    expect(Upstream.phaseAt(phases, 30)).toBe("Recovered")
  })

  it("stays recovered past the end", () => {
    expect(Upstream.phaseAt(phases, 1000)).toBe("Recovered")
  })

  it("skips an empty healthy phase", () => {
    expect(Upstream.phaseAt({ ...phases, healthySeconds: 0 }, 0)).toBe("Degraded")
  })
})

describe("Upstream over HTTP", () => {
  it.scopedLive("answers per phase and limits capacity", () =>
    Effect.gen(function* () {
      const upstream = yield* Upstream.make(phased)
      expect(upstream.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)

      yield* sleepUntil(upstream, 0.3)
      expect(yield* upstream.phase).toBe("Healthy")
      expect(yield* statuses(upstream, 3)).toEqual([200, 200, 200])

      yield* sleepUntil(upstream, 1.3)
      expect(yield* upstream.phase).toBe("Degraded")
      expect(yield* statuses(upstream, 3)).toEqual([502, 502, 502])

      yield* sleepUntil(upstream, 2.2)
      expect(yield* upstream.phase).toBe("Recovered")
      expect(yield* statuses(upstream, 7)).toEqual([200, 200, 200, 200, 200, 429, 429])

      // The window slides: a second after the burst of 2.2 s has left it.
      yield* sleepUntil(upstream, 3.5)
      expect(yield* statuses(upstream, 1)).toEqual([200])

      const counters = yield* upstream.counters
      expect(counters.received).toBe(14)
      expect(counters.healthy).toEqual({ received: 3, succeeded: 3, serverErrors: 0, rateLimited: 0 })
      expect(counters.degraded).toEqual({ received: 3, succeeded: 0, serverErrors: 3, rateLimited: 0 })
      expect(counters.recovered).toEqual({ received: 8, succeeded: 6, serverErrors: 0, rateLimited: 2 })
    }).pipe(Effect.provide(NodeHttpClient.layerUndici))
  )

  // Recovered from the start, 3 requests per 2-second window, at time scale 2 so that the test takes 2 wall seconds.
  // The requests go out in bursts at scenario seconds 0.3, 1.5, 2.6 and 3.7, at least 0.2 s from any window edge.
  it.scopedLive("limiter counts 429s and sends Retry-After", () =>
    Effect.gen(function* () {
      const upstream = yield* Upstream.make({
        ...phased,
        timeScale: 2,
        phases: { healthySeconds: 0, degradedSeconds: 0.01, recoveredSeconds: 60 },
        upstream: { ...phased.upstream, capacity: { requestsPerWindow: 3, windowSeconds: 2 } }
      })
      const at = (seconds: number) =>
        Effect.flatMap(upstream.scenarioTime, (now) =>
          Effect.sleep(`${Math.max(0, ((seconds - now) / 2) * 1000)} millis`)
        )

      yield* at(0.3)
      expect(yield* responses(upstream, 3)).toEqual(["200", "200", "200"])

      // The window is full, and each 429 carries the seconds until it would admit again. After the 3rd rejection the
      // window contains six arrivals. Four must leave it, the last of them being the first 429 at 1.5 s, so 2 s.
      yield* at(1.5)
      expect(yield* responses(upstream, 3)).toEqual(["429 retry-after 1", "429 retry-after 1", "429 retry-after 2"])

      // The admitted requests of 0.3 s have left the window, but the 429s of 1.5 s still fill it.
      yield* at(2.6)
      expect(yield* responses(upstream, 1)).toEqual(["429 retry-after 1"])

      yield* at(3.7)
      expect(yield* responses(upstream, 1)).toEqual(["200"])
      expect((yield* upstream.counters).recovered).toEqual({
        received: 8,
        succeeded: 4,
        serverErrors: 0,
        rateLimited: 4
      })
    }).pipe(Effect.provide(NodeHttpClient.layerUndici))
  )

  it.scopedLive("same seed repeats degraded answers", () =>
    Effect.gen(function* () {
      const options: Upstream.Options = {
        ...phased,
        seed: 42,
        phases: { healthySeconds: 0, degradedSeconds: 60, recoveredSeconds: 60 },
        upstream: { ...phased.upstream, degradedErrorRate: 0.5 }
      }
      const first = yield* statuses(yield* Upstream.make(options), 40)
      const second = yield* statuses(yield* Upstream.make(options), 40)
      const otherSeed = yield* statuses(yield* Upstream.make({ ...options, seed: 43 }), 40)

      expect(second).toEqual(first)
      expect(otherSeed).not.toEqual(first)
      expect(new Set(first)).toEqual(new Set([200, 502]))
    }).pipe(Effect.provide(NodeHttpClient.layerUndici))
  )

  it.live("layer serves on loopback", () =>
    Effect.gen(function* () {
      const upstream = yield* Upstream.Upstream
      expect(yield* statuses(upstream, 1)).toEqual([200])
      expect((yield* upstream.counters).received).toBe(1)
    }).pipe(Effect.provide(Upstream.layer(phased)), Effect.provide(NodeHttpClient.layerUndici))
  )
})
