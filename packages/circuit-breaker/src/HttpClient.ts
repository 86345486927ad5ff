/**
 * Circuit breakers for `@effect/platform`'s `HttpClient`: one circuit per upstream origin, with HTTP semantics built
 * in.
 *
 * Every request runs through a keyed breaker, keyed by the request's origin unless the `key` option gives another key. The default
 * classification:
 *
 * | exit of the request                                     | counts as |
 * | ------------------------------------------------------- | --------- |
 * | response 408, 429, 500, 502, 503, 504, 529              | failure   |
 * | any other response (2xx, 3xx, 404, 400, ...)            | success   |
 * | `RequestError` with reason `Transport`                  | failure   |
 * | `RequestError` with reason `Encode` or `InvalidUrl`     | nothing   |
 * | `ResponseError` with reason `StatusCode`                | by status |
 * | `ResponseError` with reason `Decode` or `EmptyBody`     | nothing   |
 * | `TimeoutException`, any other error, a defect           | failure   |
 * | interruption                                            | nothing   |
 *
 * The status is inspected whether or not `HttpClient.filterStatusOk` is applied. With `rateLimits: "ignore"`, a 429
 * counts as nothing, for APIs whose rate limits are per caller. A `Retry-After` header (seconds or an HTTP date) on a
 * failure that opens a circuit makes that cooldown at least as long, up to `maxCooldown`; an invalid header is ignored.
 *
 * **Gotchas**
 *
 * - Apply the breaker last, outside `HttpClient.retryTransient` and `HttpClient.filterStatusOk`, so that it sees one
 *   outcome per logical call.
 * - {@link withCircuitBreaker} fails a rejected request with the typed `CircuitBreakerOpen`. {@link layer} and
 *   {@link transformClient} must keep the `HttpClient`'s declared error type, so they fail it with a `RequestError`
 *   (reason `Transport`) whose `cause` is the `CircuitBreakerOpen`; {@link rejectionOf} finds it through any wrapping.
 * - Only the response headers are awaited inside the breaker. An error while reading the body later counts as
 *   nothing.
 * - {@link withCircuitBreaker} and {@link transformClient} create one breaker per call of theirs, kept for the life of
 *   the process. Call them once per client, not once per request.
 * - The `RequestError` that wraps a rejection has reason `Transport`, which `HttpClient.retryTransient` retries, so
 *   keep `retryTransient` inside the breaker.
 *
 * @since 0.1.0
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import type * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import type * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import type * as CircuitBreaker from "./CircuitBreaker.js"
import * as internal from "./internal/httpClient.js"

/**
 * The options of the HTTP breakers. Every field is optional.
 *
 * @example
 * ```ts
 * import * as HttpCircuitBreaker from "@effect-resilience/circuit-breaker/HttpClient"
 *
 * const options: HttpCircuitBreaker.Options = {
 *   name: "upstreams",
 *   failureThreshold: 5,
 *   cooldown: "30 seconds",
 *   maxCooldown: "2 minutes",
 *   rateLimits: "ignore",
 *   key: (request) => new URL(request.url).host
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options
  extends Omit<CircuitBreaker.KeyedOptions, "failureThreshold" | "cooldown" | "maxCooldown" | "isFailure" | "name"> {
  /** Name used in logs, transitions, metrics and rejections. Default `"http"`. */
  readonly name?: string | undefined
  /**
   * Consecutive failures that open an origin's circuit. An integer of at least 1; default 5 unless `policy` is set.
   */
  readonly failureThreshold?: number | undefined
  /** How long a circuit stays Open: a duration or a backoff `Schedule`. Default 30 seconds. */
  readonly cooldown?: CircuitBreaker.Options["cooldown"] | undefined
  /**
   * The maximum cooldown, whether from a `Schedule` or a `Retry-After` header. At least a fixed `cooldown`; default
   * 5 minutes, or the cooldown if that is longer.
   */
  readonly maxCooldown?: Duration.DurationInput | undefined
  /** Whether a 429 counts as a failure (`"failure"`, the default) or as nothing (`"ignore"`). */
  readonly rateLimits?: "failure" | "ignore" | undefined
  /** The circuit a request belongs to. Default: the origin of its URL. */
  readonly key?: ((request: HttpClientRequest.HttpClientRequest) => string) | undefined
  /**
   * Replaces the default classification. A response it classifies as `"Failure"` still has its `Retry-After`
   * header honoured. If it throws, the request counts as a failure and the throw is logged.
   */
  readonly classify?:
    | ((exit: Exit.Exit<HttpClientResponse.HttpClientResponse, unknown>) => "Success" | "Failure" | "Ignored")
    | undefined
}

/**
 * The breakers behind a protected client: the keyed breaker, for its state and transitions, and the function that
 * gives a request its key.
 *
 * @example
 * ```ts
 * import * as HttpCircuitBreaker from "@effect-resilience/circuit-breaker/HttpClient"
 * import { Effect } from "effect"
 *
 * const originState = Effect.flatMap(HttpCircuitBreaker.HttpClientCircuitBreaker, (breakers) =>
 *   breakers.breaker.state("https://api.example.com")
 * )
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface HttpClientCircuitBreaker {
  readonly breaker: CircuitBreaker.KeyedCircuitBreaker
  readonly keyOf: (request: HttpClientRequest.HttpClientRequest) => string
}

/**
 * The service tag of the breakers that {@link layer} installs.
 *
 * @example
 * ```ts
 * import * as HttpCircuitBreaker from "@effect-resilience/circuit-breaker/HttpClient"
 * import { Effect, Stream } from "effect"
 *
 * const logOpenings = Effect.flatMap(HttpCircuitBreaker.HttpClientCircuitBreaker, (breakers) =>
 *   breakers.breaker.transitions.pipe(
 *     Stream.filter((transition) => transition.to === "Open"),
 *     Stream.runForEach((transition) => Effect.logWarning(`${transition.key} is failing`))
 *   )
 * )
 * ```
 *
 * @since 0.1.0
 * @category tags
 */
export const HttpClientCircuitBreaker: Context.Tag<HttpClientCircuitBreaker, HttpClientCircuitBreaker> = internal.tag

/**
 * Creates the breakers of the HTTP module in the current scope, for apps that protect clients with
 * {@link protectClient} and want the breakers' state.
 *
 * Invalid options are a defect (`IllegalArgumentException`) naming the option, the value and the allowed range.
 *
 * @example
 * ```ts
 * import * as HttpCircuitBreaker from "@effect-resilience/circuit-breaker/HttpClient"
 * import { HttpClient } from "@effect/platform"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function* () {
 *   const breakers = yield* HttpCircuitBreaker.make({ failureThreshold: 3 })
 *   const client = HttpCircuitBreaker.protectClient(yield* HttpClient.HttpClient, breakers)
 *   yield* client.get("http://127.0.0.1:8080/health")
 *   return yield* breakers.breaker.state("http://127.0.0.1:8080")
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (options?: Options) => Effect.Effect<HttpClientCircuitBreaker, never, Scope.Scope> = internal.make

/**
 * Returns a client whose every request runs through `breakers`; a rejected request fails with `CircuitBreakerOpen`.
 *
 * @example
 * ```ts
 * import * as HttpCircuitBreaker from "@effect-resilience/circuit-breaker/HttpClient"
 * import { HttpClient } from "@effect/platform"
 * import { Effect } from "effect"
 *
 * const program = Effect.scoped(
 *   Effect.gen(function* () {
 *     const breakers = yield* HttpCircuitBreaker.make()
 *     const client = HttpCircuitBreaker.protectClient(yield* HttpClient.HttpClient, breakers)
 *     return yield* client.get("http://127.0.0.1:8080/v1/models")
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const protectClient: <E, R>(
  client: HttpClient.HttpClient.With<E, R>,
  breakers: HttpClientCircuitBreaker
) => HttpClient.HttpClient.With<E | CircuitBreaker.CircuitBreakerError, R> = internal.protectClient

/**
 * Returns a client whose every request runs through a keyed breaker of its own, created on the first request. A
 * rejected request fails with the typed `CircuitBreakerOpen`, carrying the origin as `key`.
 *
 * Invalid options throw an `IllegalArgumentException` when this is called.
 *
 * @example
 * ```ts
 * import * as HttpCircuitBreaker from "@effect-resilience/circuit-breaker/HttpClient"
 * import { HttpClient } from "@effect/platform"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function* () {
 *   const client = (yield* HttpClient.HttpClient).pipe(
 *     HttpClient.retryTransient({ times: 2 }),
 *     HttpCircuitBreaker.withCircuitBreaker({ failureThreshold: 5, cooldown: "30 seconds" })
 *   )
 *   return yield* client.get("http://127.0.0.1:8080/v1/models").pipe(
 *     Effect.catchTag("CircuitBreakerOpen", (rejection) => Effect.fail(`${rejection.key} is down`))
 *   )
 * })
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const withCircuitBreaker: {
  (
    options?: Options
  ): <E, R>(
    client: HttpClient.HttpClient.With<E, R>
  ) => HttpClient.HttpClient.With<E | CircuitBreaker.CircuitBreakerError, R>
  <E, R>(
    client: HttpClient.HttpClient.With<E, R>,
    options?: Options
  ): HttpClient.HttpClient.With<E | CircuitBreaker.CircuitBreakerError, R>
} = internal.withCircuitBreaker

/**
 * Returns a function for the `transformClient` option of clients such as `@effect/ai-anthropic`'s
 * `AnthropicClient`, which expect an `HttpClient` back. A rejected request fails with a `RequestError` whose `cause`
 * is the `CircuitBreakerOpen`.
 *
 * @example
 * ```ts
 * import * as HttpCircuitBreaker from "@effect-resilience/circuit-breaker/HttpClient"
 * import { AnthropicClient } from "@effect/ai-anthropic"
 * import { Config } from "effect"
 *
 * const Anthropic = AnthropicClient.layerConfig({
 *   apiKey: Config.redacted("ANTHROPIC_API_KEY"),
 *   transformClient: HttpCircuitBreaker.transformClient({ failureThreshold: 5, cooldown: "30 seconds" })
 * })
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const transformClient: (options?: Options) => (client: HttpClient.HttpClient) => HttpClient.HttpClient =
  internal.transformClient

/**
 * Replaces the `HttpClient` in the context with one whose every request runs through a keyed breaker, and provides
 * the breakers as {@link HttpClientCircuitBreaker}. A rejected request fails with a `RequestError` whose `cause` is
 * the `CircuitBreakerOpen`.
 *
 * @example
 * ```ts
 * import * as HttpCircuitBreaker from "@effect-resilience/circuit-breaker/HttpClient"
 * import { FetchHttpClient, HttpClient } from "@effect/platform"
 * import { Effect, Layer } from "effect"
 *
 * const ProtectedHttp = HttpCircuitBreaker.layer({ failureThreshold: 5 }).pipe(Layer.provide(FetchHttpClient.layer))
 *
 * const program = HttpClient.get("http://127.0.0.1:8080/v1/models").pipe(Effect.provide(ProtectedHttp))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: (
  options?: Options
) => Layer.Layer<HttpClient.HttpClient | HttpClientCircuitBreaker, never, HttpClient.HttpClient> = internal.layer

/**
 * Finds the `CircuitBreakerOpen` rejection in an error, looking through `cause` fields, as in the `RequestError` of
 * {@link layer} or an `AiError` around it.
 *
 * @example
 * ```ts
 * import * as HttpCircuitBreaker from "@effect-resilience/circuit-breaker/HttpClient"
 * import { Option } from "effect"
 *
 * const describe = (error: unknown): string =>
 *   Option.match(HttpCircuitBreaker.rejectionOf(error), {
 *     onNone: () => "upstream error",
 *     onSome: (rejection) => `rejected locally for ${rejection.key}`
 *   })
 * ```
 *
 * @since 0.1.0
 * @category refinements
 */
export const rejectionOf: (error: unknown) => Option.Option<CircuitBreaker.CircuitBreakerOpen> = internal.rejectionOf

/**
 * Wraps a rejection or a timeout of the breaker in a `RequestError` with reason `Transport`, the form that
 * {@link layer} uses.
 *
 * @example
 * ```ts
 * import * as HttpCircuitBreaker from "@effect-resilience/circuit-breaker/HttpClient"
 * import { CircuitBreaker } from "@effect-resilience/circuit-breaker"
 * import { HttpClientRequest } from "@effect/platform"
 * import { Duration } from "effect"
 *
 * const error = HttpCircuitBreaker.toRequestError(
 *   HttpClientRequest.get("http://127.0.0.1:8080/"),
 *   new CircuitBreaker.CircuitBreakerOpen({ breakerName: "http", state: "Open", retryAfter: Duration.seconds(5) })
 * )
 * ```
 *
 * @since 0.1.0
 * @category conversions
 */
export const toRequestError: (
  request: HttpClientRequest.HttpClientRequest,
  error: CircuitBreaker.CircuitBreakerError
) => HttpClientError.RequestError = internal.toRequestError

/**
 * Returns a client whose every request runs through `breakers`, failing a rejection or a timeout of the breaker with
 * a `RequestError` whose `cause` is the `CircuitBreakerError`: the form {@link layer} installs.
 *
 * @example
 * ```ts
 * import * as HttpCircuitBreaker from "@effect-resilience/circuit-breaker/HttpClient"
 * import { HttpClient } from "@effect/platform"
 * import { Effect } from "effect"
 *
 * const program = Effect.scoped(
 *   Effect.gen(function* () {
 *     const breakers = yield* HttpCircuitBreaker.make()
 *     const client: HttpClient.HttpClient = HttpCircuitBreaker.protectClientAsRequestError(
 *       yield* HttpClient.HttpClient,
 *       breakers
 *     )
 *     return yield* client.get("http://127.0.0.1:8080/v1/models")
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const protectClientAsRequestError: <E, R>(
  client: HttpClient.HttpClient.With<E, R>,
  breakers: HttpClientCircuitBreaker
) => HttpClient.HttpClient.With<E | HttpClientError.RequestError, R> = internal.protectClientAsRequestError
