import * as Headers from "@effect/platform/Headers"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import { dual } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { hasProperty } from "effect/Predicate"
import * as Scope from "effect/Scope"
import type * as Api from "../CircuitBreaker.js"
import type * as HttpApi from "../HttpClient.js"
import * as Circuit from "./circuit.js"
import { isCircuitBreakerOpen, resolveOrDie } from "./circuitBreaker.js"
import * as Keyed from "./keyed.js"
import type * as Machine from "./machine.js"
import * as Options from "./options.js"

/** @internal */
export const tag = Context.GenericTag<HttpApi.HttpClientCircuitBreaker>(
  "@effect-resilience/circuit-breaker/HttpClient/HttpClientCircuitBreaker"
)

/** @internal */
export const defaultFailureThreshold = 5

/** @internal */
export const defaultCooldown = Duration.seconds(30)

/** @internal */
export const defaultMaxCooldown = Duration.minutes(5)

/** @internal */
export const defaultName = "http"

// 408 Request Timeout, 429 Too Many Requests, 500, 502, 503, 504, and 529, which some APIs (Anthropic's among them)
// send when overloaded.
const failureStatuses: ReadonlySet<number> = new Set([408, 429, 500, 502, 503, 504, 529])

/**
 * Classifies a response status: `Failure` for the statuses that mean the upstream is failing or overloaded,
 * `Success` for any other, because the upstream responded. With `rateLimits: "ignore"`, 429 counts as neither.
 *
 * @internal
 */
export const classifyStatus = (status: number, rateLimits: "failure" | "ignore"): Machine.Outcome => {
  if (status === 429 && rateLimits === "ignore") {
    return "Ignored"
  }
  return failureStatuses.has(status) ? "Failure" : "Success"
}

/**
 * Classifies the exit of one HTTP request with the default rules, and returns the response it carried, if any.
 *
 * @internal
 */
export const classifyExit = (
  exit: Exit.Exit<HttpClientResponse.HttpClientResponse, unknown>,
  rateLimits: "failure" | "ignore"
): readonly [Machine.Outcome, HttpClientResponse.HttpClientResponse | undefined] => {
  if (Exit.isSuccess(exit)) {
    return [classifyStatus(exit.value.status, rateLimits), exit.value]
  }

  const cause = exit.cause
  if (Cause.isDie(cause)) {
    return ["Failure", undefined]
  }

  const failure = Cause.failureOption(cause)
  if (Option.isNone(failure)) {
    return ["Ignored", undefined]
  }

  const error = failure.value
  if (HttpClientError.isHttpClientError(error)) {
    // A rejection or timeout of an inner breaker, wrapped by `layer` or `transformClient`, counts as it would unwrapped.
    if (error._tag === "RequestError" && isCircuitBreakerOpen(error.cause)) {
      return ["Ignored", undefined]
    }
    if (error._tag === "RequestError" && Circuit.isCircuitBreakerTimeout(error.cause)) {
      return ["Failure", undefined]
    }
    if (error._tag === "RequestError") {
      // Encode and InvalidUrl are mistakes in the request, so they tell nothing about the upstream.
      return [error.reason === "Transport" ? "Failure" : "Ignored", undefined]
    }
    if (error.reason === "StatusCode") {
      return [classifyStatus(error.response.status, rateLimits), error.response]
    }
    return ["Ignored", error.response]
  }

  // A rejection by another breaker around the same client says nothing new about the upstream.
  if (isCircuitBreakerOpen(error)) {
    return ["Ignored", undefined]
  }
  if (Circuit.isCircuitBreakerTimeout(error)) {
    return ["Failure", undefined]
  }

  // `TimeoutException` from `Effect.timeout` inside the protected client, and any error of a type this module does
  // not know, count against the upstream.
  return ["Failure", undefined]
}

/**
 * Parses a `Retry-After` header value into milliseconds from `now`: either delay-seconds or an HTTP date. Returns
 * `undefined` for a value that is neither.
 *
 * @internal
 */
export const parseRetryAfter = (value: string, now: number): number | undefined => {
  const trimmed = value.trim()
  if (/^\d+$/.test(trimmed)) {
    return Number(trimmed) * 1_000
  }

  // The three date forms HTTP recipients must accept (RFC 9110, section 5.6.7): IMF-fixdate
  // "Sun, 06 Nov 1994 08:49:37 GMT", RFC 850 "Sunday, 06-Nov-94 08:49:37 GMT", and asctime
  // "Sun Nov  6 08:49:37 1994", which has no zone and is GMT by definition. `Date.parse` alone would accept many
  // other forms, so the shape is checked first.
  let text: string
  if (/^[A-Za-z]{3,9}, [\w -]+ \d{2}:\d{2}:\d{2} GMT$/.test(trimmed)) {
    text = trimmed
  } else if (/^[A-Za-z]{3} [A-Za-z]{3} [ \d]\d \d{2}:\d{2}:\d{2} \d{4}$/.test(trimmed)) {
    text = `${trimmed} GMT`
  } else {
    return undefined
  }
  const at = Date.parse(text)
  return Number.isFinite(at) ? Math.max(0, at - now) : undefined
}

const retryAfterOf = (
  response: HttpClientResponse.HttpClientResponse | undefined,
  now: number,
  maxCooldownMillis: number
): number => {
  if (response === undefined) {
    return 0
  }

  const header = Headers.get(response.headers, "retry-after")
  if (Option.isNone(header)) {
    return 0
  }

  const millis = parseRetryAfter(header.value, now)
  return millis === undefined ? 0 : Math.min(millis, maxCooldownMillis)
}

/**
 * The validated options of the HTTP module.
 *
 * @internal
 */
export interface ResolvedHttpOptions {
  readonly keyed: Options.ResolvedKeyedOptions
  readonly maxCooldownMillis: number
  readonly rateLimits: "failure" | "ignore"
  readonly keyOf: (request: HttpClientRequest.HttpClientRequest) => string
  readonly classify: HttpApi.Options["classify"]
}

/**
 * Returns the origin of the request's URL (`https://api.example.com:8443`), or the URL itself when it does not
 * parse, so that such requests still share one circuit per written URL.
 *
 * @internal
 */
export const originOf = (request: HttpClientRequest.HttpClientRequest): string => {
  try {
    return new URL(request.url).origin
  } catch {
    return request.url
  }
}

/** @internal */
export const resolveHttp = (options: HttpApi.Options | undefined): Either.Either<ResolvedHttpOptions, string> => {
  const input: HttpApi.Options = options ?? {}
  if (typeof input !== "object" || input === null) {
    return Either.left(`Invalid HTTP circuit breaker options: expected an object, got ${String(input)}`)
  }

  const cooldown = input.cooldown === undefined ? defaultCooldown : input.cooldown
  const keyed = Options.resolveKeyed({
    ...input,
    name: input.name === undefined ? defaultName : input.name,
    failureThreshold:
      input.failureThreshold === undefined && input.policy === undefined
        ? defaultFailureThreshold
        : input.failureThreshold,
    cooldown,
    maxCooldown: input.maxCooldown === undefined ? defaultMaxCooldownFor(cooldown) : input.maxCooldown,
    isFailure: undefined
  })
  if (Either.isLeft(keyed)) {
    return Either.left(keyed.left)
  }

  const rateLimits = input.rateLimits === undefined ? "failure" : input.rateLimits
  if (rateLimits !== "failure" && rateLimits !== "ignore") {
    return Either.left(Options.invalid("rateLimits", rateLimits, '"failure" or "ignore"'))
  }

  if (input.key !== undefined && typeof input.key !== "function") {
    return Either.left(Options.invalid("key", input.key, "a function from the request to a string"))
  }
  if (input.classify !== undefined && typeof input.classify !== "function") {
    return Either.left(
      Options.invalid("classify", input.classify, 'a function from the Exit to "Success", "Failure" or "Ignored"')
    )
  }

  return Either.right({
    keyed: keyed.right,
    maxCooldownMillis: keyed.right.maxCooldownMillis,
    rateLimits,
    keyOf: input.key ?? originOf,
    classify: input.classify
  })
}

// The HTTP default cap is shorter than the core one, since a `Retry-After` from a server is the usual way to reach it;
// a longer fixed cooldown raises it.
const defaultMaxCooldownFor = (cooldown: unknown): Duration.DurationInput => {
  const base = Duration.decodeUnknown(cooldown)
  return Option.isSome(base) && Duration.greaterThan(base.value, defaultMaxCooldown) ? base.value : defaultMaxCooldown
}

const verdicts: Record<Machine.Outcome, Circuit.Verdict> = {
  Success: Circuit.success,
  Failure: Circuit.failure,
  Ignored: Circuit.ignored
}

const makeClassifier =
  (options: ResolvedHttpOptions): Circuit.Classifier =>
  (exit) => {
    const typed = exit as Exit.Exit<HttpClientResponse.HttpClientResponse, unknown>
    let outcome: Machine.Outcome
    let response: HttpClientResponse.HttpClientResponse | undefined
    if (options.classify === undefined) {
      ;[outcome, response] = classifyExit(typed, options.rateLimits)
    } else if (isOwnTimeout(typed)) {
      // The breaker's own timeout always counts as a failure, whatever a custom classification returns.
      return Circuit.failure
    } else {
      try {
        const returned: unknown = options.classify(typed)
        if (returned !== "Success" && returned !== "Failure" && returned !== "Ignored") {
          throw new TypeError(`classify returned ${String(returned)}; expected "Success", "Failure" or "Ignored"`)
        }
        outcome = returned
      } catch (thrown) {
        return Effect.as(Circuit.logClassifierThrow(options.keyed.name, "classify", thrown), Circuit.failure)
      }
      response = Exit.isSuccess(typed) ? typed.value : responseOfFailure(typed)
    }

    if (outcome !== "Failure" || response === undefined) {
      return verdicts[outcome]
    }

    const failedResponse = response
    return Effect.clockWith((clock) =>
      Effect.sync(
        (): Circuit.Verdict => ({
          outcome: "Failure",
          minCooldownMillis: retryAfterOf(failedResponse, clock.unsafeCurrentTimeMillis(), options.maxCooldownMillis)
        })
      )
    )
  }

const isOwnTimeout = (exit: Exit.Exit<unknown, unknown>): boolean =>
  Exit.isFailure(exit) && Option.exists(Cause.failureOption(exit.cause), Circuit.isCircuitBreakerTimeout)

const responseOfFailure = (
  exit: Exit.Exit<HttpClientResponse.HttpClientResponse, unknown>
): HttpClientResponse.HttpClientResponse | undefined => {
  if (Exit.isSuccess(exit)) return undefined
  const failure = Cause.failureOption(exit.cause)
  return Option.isSome(failure) &&
    HttpClientError.isHttpClientError(failure.value) &&
    failure.value._tag === "ResponseError"
    ? failure.value.response
    : undefined
}

/**
 * Wraps a rejection or a timeout of the breaker in a `RequestError`, for clients whose declared error type must stay
 * `HttpClientError`.
 *
 * @internal
 */
export const toRequestError = (
  request: HttpClientRequest.HttpClientRequest,
  error: Api.CircuitBreakerError
): HttpClientError.RequestError =>
  new HttpClientError.RequestError({
    request,
    reason: "Transport",
    cause: error,
    description: error.message
  })

const isCircuitBreakerError = (u: unknown): u is Api.CircuitBreakerError =>
  isCircuitBreakerOpen(u) || Circuit.isCircuitBreakerTimeout(u)

/** @internal */
export const protectClient = <E, R>(
  client: HttpClient.HttpClient.With<E, R>,
  breakers: HttpApi.HttpClientCircuitBreaker
): HttpClient.HttpClient.With<E | Api.CircuitBreakerError, R> =>
  HttpClient.transform(client, (effect, request) => breakers.breaker.protect(effect, breakers.keyOf(request)))

/** @internal */
export const protectClientAsRequestError = <E, R>(
  client: HttpClient.HttpClient.With<E, R>,
  breakers: HttpApi.HttpClientCircuitBreaker
): HttpClient.HttpClient.With<E | HttpClientError.RequestError, R> =>
  HttpClient.transform(client, (effect, request) =>
    Effect.catchIf(breakers.breaker.protect(effect, breakers.keyOf(request)), isCircuitBreakerError, (error) =>
      Effect.fail(toRequestError(request, error))
    )
  )

const makeResolved = (
  options: ResolvedHttpOptions
): Effect.Effect<HttpApi.HttpClientCircuitBreaker, never, Scope.Scope> =>
  Effect.map(Keyed.makeResolved(options.keyed, makeClassifier(options)), (breaker) => ({
    breaker,
    keyOf: options.keyOf
  }))

/** @internal */
export const make = (options?: HttpApi.Options): Effect.Effect<HttpApi.HttpClientCircuitBreaker, never, Scope.Scope> =>
  Effect.suspend(() => resolveOrDie(resolveHttp(options), makeResolved))

/**
 * Creates the breaker on the first request, in that request's context, with a scope that is never closed. Its timer
 * fiber runs only while some origin is Open, so nothing is left running once every cooldown has ended.
 */
const lazyBreakers = (options: HttpApi.Options | undefined) => {
  const resolved = resolveHttp(options)
  if (Either.isLeft(resolved)) {
    throw new Cause.IllegalArgumentException(resolved.left)
  }

  let created: HttpApi.HttpClientCircuitBreaker | undefined
  const get = Effect.suspend(() =>
    created !== undefined
      ? Effect.succeed(created)
      : Effect.flatMap(Scope.make(), (scope) =>
          Effect.map(Scope.extend(makeResolved(resolved.right), scope), (breakers) => {
            // Two first requests may race to create it; the first one stored wins and the other is never used.
            created ??= breakers
            return created
          })
        )
  )
  return { get, keyOf: resolved.right.keyOf }
}

/** @internal */
export const withCircuitBreaker: {
  (
    options?: HttpApi.Options
  ): <E, R>(client: HttpClient.HttpClient.With<E, R>) => HttpClient.HttpClient.With<E | Api.CircuitBreakerError, R>
  <E, R>(
    client: HttpClient.HttpClient.With<E, R>,
    options?: HttpApi.Options
  ): HttpClient.HttpClient.With<E | Api.CircuitBreakerError, R>
} = dual(
  (args) => hasProperty(args[0], HttpClient.TypeId),
  <E, R>(
    client: HttpClient.HttpClient.With<E, R>,
    options?: HttpApi.Options
  ): HttpClient.HttpClient.With<E | Api.CircuitBreakerError, R> => {
    const breakers = lazyBreakers(options)
    return HttpClient.transform(client, (effect, request) =>
      Effect.flatMap(breakers.get, (created) => created.breaker.protect(effect, breakers.keyOf(request)))
    )
  }
)

/** @internal */
export const transformClient = (
  options?: HttpApi.Options
): ((client: HttpClient.HttpClient) => HttpClient.HttpClient) => {
  const breakers = lazyBreakers(options)
  return (client) =>
    HttpClient.transform(client, (effect, request) =>
      Effect.flatMap(breakers.get, (created) =>
        Effect.catchIf(created.breaker.protect(effect, breakers.keyOf(request)), isCircuitBreakerError, (error) =>
          Effect.fail(toRequestError(request, error))
        )
      )
    )
}

/** @internal */
export const layer = (
  options?: HttpApi.Options
): Layer.Layer<HttpClient.HttpClient | HttpApi.HttpClientCircuitBreaker, never, HttpClient.HttpClient> =>
  Layer.scopedContext(
    Effect.gen(function* () {
      const breakers = yield* make(options)
      const client = yield* HttpClient.HttpClient
      return Context.make(tag, breakers).pipe(
        Context.add(HttpClient.HttpClient, protectClientAsRequestError(client, breakers))
      )
    })
  )

/** @internal */
export const rejectionOf = (error: unknown): Option.Option<Api.CircuitBreakerOpen> => {
  let current: unknown = error
  // Wrappers nest the rejection as `cause`; a bound on the depth guards against cyclic causes.
  for (let depth = 0; depth < 8 && current !== undefined && current !== null; depth++) {
    if (isCircuitBreakerOpen(current)) {
      return Option.some(current)
    }
    current = hasProperty(current, "cause") ? current.cause : undefined
  }
  return Option.none()
}
