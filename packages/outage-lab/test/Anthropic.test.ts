import { NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import * as HttpCircuitBreaker from "@effect-resilience/circuit-breaker/HttpClient"
import { Effect, Option } from "effect"
import { Scenario, Upstream, Workers } from "../src/index.js"

// The anthropic upstream at time scale 1, called through the real AnthropicClient over loopback HTTP. Latencies are
// 2 ms so that each call is quick.
const anthropicUpstream = (
  phases: Scenario.Phases,
  overrides: Partial<Scenario.UpstreamBehaviour> = {}
): Upstream.Options => ({
  seed: 3,
  timeScale: 1,
  api: "anthropic",
  phases,
  upstream: {
    ...Scenario.defaultScenario.upstream,
    successLatencySeconds: 0.002,
    errorLatencySeconds: 0.002,
    rateLimitLatencySeconds: 0.002,
    ...overrides
  }
})

const healthy = { healthySeconds: 60, degradedSeconds: 1, recoveredSeconds: 1 }
const overloaded = { healthySeconds: 0, degradedSeconds: 60, recoveredSeconds: 1 }
const recovered = { healthySeconds: 0, degradedSeconds: 0.001, recoveredSeconds: 60 }

describe("Anthropic upstream through AnthropicClient", () => {
  it.scopedLive("a success decodes as a message", () =>
    Effect.gen(function* () {
      const upstream = yield* Upstream.make(anthropicUpstream(healthy))
      const message = yield* Effect.flatten(Workers.anthropic()(upstream))

      expect(message).toMatchObject({
        type: "message",
        role: "assistant",
        model: "claude-loopback",
        stop_reason: "end_turn",
        usage: { input_tokens: 24, output_tokens: 9 }
      })
      expect(message).toHaveProperty("id", expect.stringMatching(/^msg_/))
      expect(message).toHaveProperty("content", [{ type: "text", text: expect.any(String), citations: null }])
    }).pipe(Effect.provide(NodeHttpClient.layerUndici))
  )

  it.scopedLive("a 429 decodes as rate_limit_error", () =>
    Effect.gen(function* () {
      const upstream = yield* Upstream.make(
        anthropicUpstream(recovered, { capacity: { requestsPerWindow: 1, windowSeconds: 60 } })
      )
      const call = yield* Workers.anthropic()(upstream)
      yield* call
      const error = yield* Effect.flip(call)

      expect(error).toMatchObject({ _tag: "HttpResponseError", reason: "StatusCode", response: { status: 429 } })
      expect(error).toHaveProperty("body", expect.stringContaining('"rate_limit_error"'))
      expect(error).toHaveProperty("response.headers.retry-after", "60")
    }).pipe(Effect.provide(NodeHttpClient.layerUndici))
  )

  it.scopedLive("a 529 decodes as overloaded_error", () =>
    Effect.gen(function* () {
      const upstream = yield* Upstream.make(
        anthropicUpstream(overloaded, { degradedErrorRate: 1, degradedStatus: 529 })
      )
      const error = yield* Effect.flip(Effect.flatten(Workers.anthropic()(upstream)))

      expect(error).toMatchObject({ _tag: "HttpResponseError", response: { status: 529 } })
      expect(error).toHaveProperty("body", expect.stringContaining('"overloaded_error"'))
    }).pipe(Effect.provide(NodeHttpClient.layerUndici))
  )

  it.scopedLive("529 burst opens the breaker", () =>
    Effect.gen(function* () {
      const upstream = yield* Upstream.make(
        anthropicUpstream(overloaded, { degradedErrorRate: 1, degradedStatus: 529 })
      )
      const call = yield* Workers.anthropic({ breaker: { failureThreshold: 3, cooldown: "1 minute" } })(upstream)

      const burst = yield* Effect.forEach([1, 2, 3], () => Effect.flip(call))
      expect(burst.map((error) => error)).toMatchObject([
        { response: { status: 529 } },
        { response: { status: 529 } },
        { response: { status: 529 } }
      ])

      const later = yield* Effect.forEach([1, 2], () => Effect.flip(call))
      expect(later.map((error) => Option.isSome(HttpCircuitBreaker.rejectionOf(error)))).toEqual([true, true])
      expect((yield* upstream.counters).received).toBe(3)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici))
  )
})
