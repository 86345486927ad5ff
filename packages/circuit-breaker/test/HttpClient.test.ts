import { HttpClient, HttpClientError, HttpClientRequest, HttpServerResponse } from "@effect/platform"
import { NodeHttpClient } from "@effect/platform-node"
import { assert, describe, expect, it } from "@effect/vitest"
import { CircuitBreaker } from "@effect-resilience/circuit-breaker"
import * as HttpCircuitBreaker from "@effect-resilience/circuit-breaker/HttpClient"
import { Loopback } from "@effect-resilience/loopback"
import { Cause, DateTime, Duration, Effect, Exit, Fiber, Layer, Option, TestClock } from "effect"
import * as HttpCircuitBreakerInternal from "../src/internal/httpClient.js"

/**
 * A loopback upstream that responds to `/status/CODE` with that status, sets `Retry-After` from the `retryAfter` query
 * parameter, and never responds to `/hang`.
 */
const upstream = Loopback.serve((request) =>
  Effect.gen(function* () {
    const url = new URL(request.url, "http://127.0.0.1")
    if (url.pathname === "/hang") {
      return yield* Effect.never
    }

    const status = Number(url.pathname.split("/")[2] ?? "200")
    const retryAfter = url.searchParams.get("retryAfter")
    const headers: Record<string, string> = retryAfter === null ? {} : { "retry-after": retryAfter }
    return HttpServerResponse.text(`status ${status}`, { status, headers })
  })
)

const clientLayer = NodeHttpClient.layerUndici

const withBreakers = (options: HttpCircuitBreaker.Options = {}) =>
  Effect.gen(function* () {
    const breakers = yield* HttpCircuitBreaker.make({ failureThreshold: 100, ...options })
    const client = HttpCircuitBreaker.protectClient(yield* HttpClient.HttpClient, breakers)
    return { breakers, client }
  })

const failuresOf = (breakers: HttpCircuitBreaker.HttpClientCircuitBreaker, key: string) =>
  Effect.map(breakers.breaker.state(key), (state) => (state._tag === "Closed" ? state.consecutiveFailures : -1))

describe("HTTP classification", () => {
  const failureStatuses = [408, 429, 500, 502, 503, 504, 529]
  const successStatuses = [200, 201, 204, 301, 304, 400, 401, 403, 404, 409, 422, 501]

  for (const status of failureStatuses) {
    it.scoped(`status ${status} counts as failure`, () =>
      Effect.gen(function* () {
        const server = yield* upstream
        const { breakers, client } = yield* withBreakers()

        const response = yield* client.get(`${server.url}/status/${status}`)

        expect(response.status).toBe(status)
        expect(yield* failuresOf(breakers, server.url)).toBe(1)
      }).pipe(Effect.provide(clientLayer))
    )

    it.scoped(`status ${status} under filterStatusOk`, () =>
      Effect.gen(function* () {
        const server = yield* upstream
        const breakers = yield* HttpCircuitBreaker.make({ failureThreshold: 100 })
        const client = HttpCircuitBreaker.protectClient(
          HttpClient.filterStatusOk(yield* HttpClient.HttpClient),
          breakers
        )

        const error = yield* Effect.flip(client.get(`${server.url}/status/${status}`))

        expect(error._tag).toBe("ResponseError")
        expect(yield* failuresOf(breakers, server.url)).toBe(1)
      }).pipe(Effect.provide(clientLayer))
    )
  }

  for (const status of successStatuses) {
    it.scoped(`status ${status} counts as success`, () =>
      Effect.gen(function* () {
        const server = yield* upstream
        const { breakers, client } = yield* withBreakers()
        yield* client.get(`${server.url}/status/503`)

        yield* client.get(`${server.url}/status/${status}`)

        expect(yield* failuresOf(breakers, server.url)).toBe(0)
      }).pipe(Effect.provide(clientLayer))
    )
  }

  it.scoped("429 ignored on request", () =>
    Effect.gen(function* () {
      const server = yield* upstream
      const { breakers, client } = yield* withBreakers({ rateLimits: "ignore" })
      yield* client.get(`${server.url}/status/503`)

      yield* client.get(`${server.url}/status/429`)

      expect(yield* failuresOf(breakers, server.url)).toBe(1)
    }).pipe(Effect.provide(clientLayer))
  )

  it.scoped("transport error counts as failure", () =>
    Effect.gen(function* () {
      const url = yield* Loopback.closedPort
      const { breakers, client } = yield* withBreakers()

      const error = yield* Effect.flip(client.get(`${url}/anything`))

      expect(error._tag).toBe("RequestError")
      expect(yield* failuresOf(breakers, url)).toBe(1)
    }).pipe(Effect.provide(clientLayer))
  )

  it.scoped("timeout counts as failure", () =>
    Effect.gen(function* () {
      const server = yield* upstream
      const breakers = yield* HttpCircuitBreaker.make({ failureThreshold: 100 })
      const client = HttpCircuitBreaker.protectClient(
        HttpClient.transformResponse(yield* HttpClient.HttpClient, Effect.timeout("5 seconds")),
        breakers
      )

      const fiber = yield* Effect.fork(Effect.flip(client.get(`${server.url}/hang`)))
      yield* TestClock.adjust("5 seconds")
      const error = yield* Fiber.join(fiber)

      expect(error._tag).toBe("TimeoutException")
      expect(yield* failuresOf(breakers, server.url)).toBe(1)
    }).pipe(Effect.provide(clientLayer))
  )

  /** A client that fails every request with `error`, for the exits a real server cannot produce on demand. */
  const stubClient = (error: HttpClientError.HttpClientError) => HttpClient.make(() => Effect.fail(error))

  const requestError = (reason: "Transport" | "Encode" | "InvalidUrl") =>
    new HttpClientError.RequestError({ request: HttpClientRequest.get("http://stub.test/"), reason })

  for (const [reason, expected] of [
    ["Encode", 0],
    ["InvalidUrl", 0],
    ["Transport", 1]
  ] as const) {
    it.scoped(`RequestError ${reason} counts ${expected}`, () =>
      Effect.gen(function* () {
        const breakers = yield* HttpCircuitBreaker.make({ failureThreshold: 100 })
        const client = HttpCircuitBreaker.protectClient(stubClient(requestError(reason)), breakers)

        yield* Effect.flip(client.get("http://stub.test/"))

        expect(yield* failuresOf(breakers, "http://stub.test")).toBe(expected)
      })
    )
  }

  for (const reason of ["Decode", "EmptyBody"] as const) {
    it.scoped(`ResponseError ${reason} counts nothing`, () =>
      Effect.gen(function* () {
        const server = yield* upstream
        const { breakers, client } = yield* withBreakers()
        const response = yield* client.get(`${server.url}/status/503`)
        const failing = HttpCircuitBreaker.protectClient(
          stubClient(new HttpClientError.ResponseError({ request: response.request, response, reason })),
          breakers
        )

        yield* Effect.flip(failing.get(`${server.url}/status/200`))

        // The 503 counted once; the failure to read a body tells nothing about the upstream.
        expect(yield* failuresOf(breakers, server.url)).toBe(1)
      }).pipe(Effect.provide(clientLayer))
    )
  }

  it.scoped("inner rejection wrapped counts nothing", () =>
    Effect.gen(function* () {
      const server = yield* upstream
      const inner = yield* HttpCircuitBreaker.make({ name: "inner", failureThreshold: 1, cooldown: "1 minute" })
      const outer = yield* HttpCircuitBreaker.make({ name: "outer", failureThreshold: 1, cooldown: "30 seconds" })
      const base = yield* HttpClient.HttpClient
      const client = HttpCircuitBreaker.protectClient(
        HttpCircuitBreaker.protectClientAsRequestError(base, inner),
        outer
      )
      yield* client.get(`${server.url}/status/503`)

      // The outer breaker's cooldown ends first: its trial meets the inner breaker's wrapped rejection.
      yield* TestClock.adjust("30 seconds")
      const error = yield* Effect.flip(client.get(`${server.url}/status/200`))

      expect(Option.isSome(HttpCircuitBreaker.rejectionOf(error))).toBe(true)
      expect(yield* outer.breaker.state(server.url)).toEqual({
        _tag: "HalfOpen",
        trialSuccesses: 0,
        trialRunning: false
      })
      expect(yield* server.requests).toBe(1)
    }).pipe(Effect.provide(clientLayer))
  )

  it.scoped("classify returning garbage counts failure", () =>
    Effect.gen(function* () {
      const server = yield* upstream
      const { breakers, client } = yield* withBreakers({ classify: () => "Maybe" as "Success" })

      const response = yield* client.get(`${server.url}/status/200`)

      expect(response.status).toBe(200)
      expect(yield* failuresOf(breakers, server.url)).toBe(1)
    }).pipe(Effect.provide(clientLayer))
  )

  it.scoped("custom classify cannot ignore timeouts", () =>
    Effect.gen(function* () {
      const server = yield* upstream
      const breakers = yield* HttpCircuitBreaker.make({
        failureThreshold: 100,
        callTimeout: "2 seconds",
        classify: () => "Ignored"
      })
      const client = HttpCircuitBreaker.protectClient(yield* HttpClient.HttpClient, breakers)

      const fiber = yield* Effect.fork(Effect.flip(client.get(`${server.url}/hang`)))
      yield* TestClock.adjust("2 seconds")
      const error = yield* Fiber.join(fiber)

      expect(error._tag).toBe("CircuitBreakerTimeout")
      expect(yield* failuresOf(breakers, server.url)).toBe(1)
    }).pipe(Effect.provide(clientLayer))
  )

  it.scoped("custom classify replaces default", () =>
    Effect.gen(function* () {
      const server = yield* upstream
      const { breakers, client } = yield* withBreakers({
        classify: (exit) => (Exit.isSuccess(exit) && exit.value.status === 404 ? "Failure" : "Success")
      })

      yield* client.get(`${server.url}/status/404`)
      yield* client.get(`${server.url}/status/404`)
      const afterNotFound = yield* failuresOf(breakers, server.url)
      yield* client.get(`${server.url}/status/503`)

      expect(afterNotFound).toBe(2)
      expect(yield* failuresOf(breakers, server.url)).toBe(0)
    }).pipe(Effect.provide(clientLayer))
  )
})

describe("Retry-After", () => {
  const openWith = (retryAfter: string, options: HttpCircuitBreaker.Options = {}) =>
    Effect.gen(function* () {
      const server = yield* upstream
      const breakers = yield* HttpCircuitBreaker.make({ failureThreshold: 1, cooldown: "30 seconds", ...options })
      const client = HttpCircuitBreaker.protectClient(yield* HttpClient.HttpClient, breakers)
      yield* client.get(`${server.url}/status/503?retryAfter=${encodeURIComponent(retryAfter)}`)
      const state = yield* breakers.breaker.state(server.url)
      assert.strictEqual(state._tag, "Open")
      return state._tag === "Open" ? Duration.toMillis(state.remainingCooldown) : -1
    }).pipe(Effect.provide(clientLayer))

  it.scoped("seconds lengthen the cooldown", () =>
    Effect.gen(function* () {
      expect(yield* openWith("120")).toBe(120_000)
    })
  )

  it.scoped("HTTP date lengthens the cooldown", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(Date.UTC(2026, 0, 1, 12, 0, 0))
      const date = DateTime.unsafeMake(Date.UTC(2026, 0, 1, 12, 1, 30))
        .pipe(DateTime.toDateUtc)
        .toUTCString()

      expect(yield* openWith(date)).toBe(90_000)
    })
  )

  it.scoped("shorter header keeps the cooldown", () =>
    Effect.gen(function* () {
      expect(yield* openWith("5")).toBe(30_000)
    })
  )

  it.scoped("invalid header is ignored", () =>
    Effect.gen(function* () {
      expect(yield* openWith("soon")).toBe(30_000)
      expect(yield* openWith("-5")).toBe(30_000)
      expect(yield* openWith("1.5")).toBe(30_000)
      expect(yield* openWith("Tomorrow at noon")).toBe(30_000)
    })
  )

  it.scoped("RFC 850 and asctime dates", () =>
    Effect.gen(function* () {
      yield* TestClock.setTime(Date.UTC(1994, 10, 6, 8, 48, 37))

      expect(yield* openWith("Sunday, 06-Nov-94 08:49:37 GMT")).toBe(60_000)
      expect(yield* openWith("Sun Nov  6 08:49:37 1994")).toBe(60_000)
    })
  )

  it("parseRetryAfter forms", () => {
    const now = Date.UTC(2026, 0, 1, 0, 0, 0)
    expect(HttpCircuitBreakerInternal.parseRetryAfter("0", now)).toBe(0)
    expect(HttpCircuitBreakerInternal.parseRetryAfter(" 42 ", now)).toBe(42_000)
    expect(HttpCircuitBreakerInternal.parseRetryAfter("Thu, 01 Jan 2026 00:00:10 GMT", now)).toBe(10_000)
    expect(HttpCircuitBreakerInternal.parseRetryAfter("Wed, 31 Dec 2025 23:59:00 GMT", now)).toBe(0)
    expect(HttpCircuitBreakerInternal.parseRetryAfter("2026-01-01T00:00:10Z", now)).toBeUndefined()
    expect(HttpCircuitBreakerInternal.parseRetryAfter("", now)).toBeUndefined()
    expect(HttpCircuitBreakerInternal.parseRetryAfter("Thu, 99 Foo 2026 00:00:10 GMT", now)).toBeUndefined()
  })

  it.scoped("cap applies above maxCooldown", () =>
    Effect.gen(function* () {
      expect(yield* openWith("3600", { maxCooldown: "2 minutes" })).toBe(120_000)
    })
  )

  it.effect("maxCooldown below cooldown is rejected", () =>
    Effect.gen(function* () {
      const exit = yield* Effect.exit(
        Effect.scoped(HttpCircuitBreaker.make({ cooldown: "1 minute", maxCooldown: "10 seconds" }))
      )
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isSuccess(exit)) return
      const defect = Cause.dieOption(exit.cause)
      assert.isTrue(Option.isSome(defect))
      expect(String(Option.getOrUndefined(defect))).toContain(
        'maxCooldown: expected at least the cooldown (1m), got "10s"'
      )
    })
  )
})

describe("HTTP circuits", () => {
  it.scoped("origins are isolated", () =>
    Effect.gen(function* () {
      const failing = yield* upstream
      const healthy = yield* upstream
      const { breakers, client } = yield* withBreakers({ failureThreshold: 2 })

      yield* client.get(`${failing.url}/status/503`)
      yield* client.get(`${failing.url}/status/503`)
      const response = yield* client.get(`${healthy.url}/status/200`)

      expect((yield* breakers.breaker.state(failing.url))._tag).toBe("Open")
      expect(response.status).toBe(200)
      expect((yield* breakers.breaker.state(healthy.url))._tag).toBe("Closed")
    }).pipe(Effect.provide(clientLayer))
  )

  it.scoped("open origin rejects without a request", () =>
    Effect.gen(function* () {
      const server = yield* upstream
      const client = (yield* HttpClient.HttpClient).pipe(
        HttpCircuitBreaker.withCircuitBreaker({ failureThreshold: 2, cooldown: "1 minute" })
      )
      yield* client.get(`${server.url}/status/503`)
      yield* client.get(`${server.url}/status/503`)

      const fallback = yield* client
        .get(`${server.url}/status/200`)
        .pipe(
          Effect.catchTag("CircuitBreakerOpen", (rejection) =>
            Effect.succeed(`${rejection.key} rejected, retry in ${Duration.format(rejection.retryAfter)}`)
          )
        )

      expect(fallback).toBe(`${server.url} rejected, retry in 1m`)
      expect(yield* server.requests).toBe(2)
    }).pipe(Effect.provide(clientLayer))
  )

  it.scoped("key option groups requests", () =>
    Effect.gen(function* () {
      const server = yield* upstream
      const { breakers, client } = yield* withBreakers({
        failureThreshold: 2,
        key: (request) => new URL(request.url).pathname.split("/")[1] ?? ""
      })

      yield* client.get(`${server.url}/status/503`)

      expect(yield* failuresOf(breakers, "status")).toBe(1)
      expect(yield* breakers.breaker.size).toBe(1)
    }).pipe(Effect.provide(clientLayer))
  )

  it.scoped("cooldown ends in HalfOpen", () =>
    Effect.gen(function* () {
      const server = yield* upstream
      const { breakers, client } = yield* withBreakers({ failureThreshold: 1 })
      yield* client.get(`${server.url}/status/503`)

      yield* TestClock.adjust("30 seconds")
      const halfOpen = yield* breakers.breaker.state(server.url)
      yield* client.get(`${server.url}/status/200`)

      expect(halfOpen._tag).toBe("HalfOpen")
      expect((yield* breakers.breaker.state(server.url))._tag).toBe("Closed")
    }).pipe(Effect.provide(clientLayer))
  )

  it("invalid options throw at construction", () => {
    const client = HttpClient.make(() => Effect.die("unused"))
    expect(() => HttpCircuitBreaker.withCircuitBreaker(client, { failureThreshold: 0 })).toThrow(
      "Invalid circuit breaker option failureThreshold: expected an integer of at least 1, got 0"
    )
    expect(() => HttpCircuitBreaker.transformClient({ rateLimits: "sometimes" as "ignore" })).toThrow(
      'Invalid circuit breaker option rateLimits: expected "failure" or "ignore", got "sometimes"'
    )
  })
})

describe("HTTP layer", () => {
  it.scoped("layer protects every request", () =>
    Effect.gen(function* () {
      const server = yield* upstream

      const result = yield* Effect.gen(function* () {
        yield* HttpClient.get(`${server.url}/status/503`)
        yield* HttpClient.get(`${server.url}/status/503`)
        const error = yield* Effect.flip(HttpClient.get(`${server.url}/status/200`))
        const breakers = yield* HttpCircuitBreaker.HttpClientCircuitBreaker
        const state = yield* breakers.breaker.state(server.url)
        return { error, state }
      }).pipe(Effect.provide(HttpCircuitBreaker.layer({ failureThreshold: 2 }).pipe(Layer.provide(clientLayer))))

      expect(result.error._tag).toBe("RequestError")
      const rejection = HttpCircuitBreaker.rejectionOf(result.error)
      assert.isTrue(Option.isSome(rejection))
      if (Option.isSome(rejection)) expect(rejection.value.key).toBe(server.url)
      expect(result.state._tag).toBe("Open")
      expect(yield* server.requests).toBe(2)
    })
  )

  it("rejectionOf finds nested rejections", () => {
    const rejection = new CircuitBreaker.CircuitBreakerOpen({
      breakerName: "http",
      state: "Open",
      retryAfter: Duration.zero
    })
    const wrapped = HttpCircuitBreaker.toRequestError(HttpClientRequest.get("http://127.0.0.1/"), rejection)
    const outer = { _tag: "AiError", cause: wrapped }

    expect(Option.getOrUndefined(HttpCircuitBreaker.rejectionOf(rejection))).toBe(rejection)
    expect(Option.getOrUndefined(HttpCircuitBreaker.rejectionOf(wrapped))).toBe(rejection)
    expect(Option.getOrUndefined(HttpCircuitBreaker.rejectionOf(outer))).toBe(rejection)
    expect(Option.isNone(HttpCircuitBreaker.rejectionOf(new Error("other")))).toBe(true)
  })
})
