import { AnthropicClient } from "@effect/ai-anthropic"
import { HttpServerResponse } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, expect, it } from "@effect/vitest"
import * as HttpCircuitBreaker from "@effect-resilience/circuit-breaker/HttpClient"
import { Loopback } from "@effect-resilience/loopback"
import { Effect, Option, Redacted } from "effect"

/** A loopback server in the shape of the Anthropic Messages API during an overload: 529 with an `overloaded_error`. */
const overloadedMessagesApi = Loopback.serve(() =>
  Effect.succeed(
    HttpServerResponse.unsafeJson(
      { type: "error", error: { type: "overloaded_error", message: "Overloaded" } },
      { status: 529 }
    )
  )
)

const createMessage = (client: AnthropicClient.Service) =>
  client.createMessage({
    payload: { model: "claude-test", max_tokens: 16, messages: [{ role: "user", content: "ping" }] }
  })

describe("AnthropicClient", () => {
  it.scoped("transformClient protects the real client", () =>
    Effect.gen(function* () {
      const server = yield* overloadedMessagesApi
      const client = yield* AnthropicClient.make({
        apiUrl: server.url,
        apiKey: Redacted.make("test-key"),
        transformClient: HttpCircuitBreaker.transformClient({ failureThreshold: 3, cooldown: "30 seconds" })
      })

      for (let i = 0; i < 3; i++) {
        const error = yield* Effect.flip(createMessage(client))
        expect(Option.isNone(HttpCircuitBreaker.rejectionOf(error))).toBe(true)
      }
      const rejected = yield* Effect.flip(createMessage(client))

      const rejection = HttpCircuitBreaker.rejectionOf(rejected)
      assert.isTrue(Option.isSome(rejection), "expected the fourth call to be rejected by the breaker")
      if (Option.isSome(rejection)) {
        expect(rejection.value.key).toBe(server.url)
        expect(rejection.value.state).toBe("Open")
      }
      expect(yield* server.requests).toBe(3)
    }).pipe(Effect.provide(NodeHttpClient.layerUndici))
  )
})
