/**
 * A loopback HTTP upstream that follows a scenario: healthy, then degraded (most requests fail with a 5xx), then
 * recovered behind a rate limiter that responds 429 with a `Retry-After` header above its limit.
 *
 * The server listens on 127.0.0.1 on a port the system picks, and counts every request it receives by phase and by
 * response status. Scenario time starts when the server starts and runs `timeScale` times faster than the `Clock`.
 *
 * Every path and method gets the same treatment, so a client can call any URL under {@link Upstream.url}. The bodies
 * follow the {@link Api} chosen: small JSON objects for `"generic"`, or the shapes of Anthropic's Messages API for
 * `"anthropic"`.
 *
 * **The rate limiter.** After the recovery, the upstream admits a request when fewer than
 * `capacity.requestsPerWindow` requests arrived in the last `capacity.windowSeconds` of scenario time. Every request
 * counts, including those rejected with a 429. A caller that keeps sending faster than the limit therefore keeps the
 * window full and gets nothing through until it slows down. The 429 carries `Retry-After`: the whole scenario
 * seconds, rounded up, until the window would admit a request if nothing more arrived.
 *
 * @since 0.1.0
 */

import * as Http from "node:http"
import type { ServeError } from "@effect/platform/HttpServerError"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type * as Scenario from "./Scenario.js"
import * as SeededRandom from "./SeededRandom.js"

/**
 * The shape of the upstream's responses.
 *
 * - `"generic"`: `{"object":"completion","output":"ok"}` on success and `{"error":"..."}` on failure.
 * - `"anthropic"`: the Messages API. A success is a `message` object with one text block. A degraded request gets
 *   the scenario's 5xx status, with an `overloaded_error` body for 529 and an `api_error` body for any other status.
 *   A rate-limited request gets a 429 with a `rate_limit_error` body.
 *
 * @example
 * ```ts
 * import type { Upstream } from "@effect-resilience/outage-lab"
 *
 * const api: Upstream.Api = "anthropic"
 * ```
 *
 * @since 0.2.0
 * @category models
 */
export type Api = "generic" | "anthropic"

/**
 * The phase the upstream is in at a given scenario time.
 *
 * @example
 * ```ts
 * import type { Upstream } from "@effect-resilience/outage-lab"
 *
 * const isFailing = (phase: Upstream.Phase) => phase === "Degraded"
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Phase = "Healthy" | "Degraded" | "Recovered"

/**
 * Request and response counts of one phase.
 *
 * @example
 * ```ts
 * import type { Upstream } from "@effect-resilience/outage-lab"
 *
 * const failed = (counters: Upstream.PhaseCounters) => counters.serverErrors + counters.rateLimited
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface PhaseCounters {
  /** Requests received in the phase. */
  readonly received: number
  /** Requests that got a 200 response. */
  readonly succeeded: number
  /** Requests that got a 5xx response. */
  readonly serverErrors: number
  /** Requests that got a 429 response because the capacity limit was reached. */
  readonly rateLimited: number
}

/**
 * Request counts of the upstream, in total and by the phase a request arrived in. A request is counted when it
 * arrives, with the status chosen for it then, even if the client goes away before the response is sent.
 *
 * @example
 * ```ts
 * import { Upstream } from "@effect-resilience/outage-lab"
 * import { Effect } from "effect"
 *
 * const wasted = Upstream.Upstream.pipe(
 *   Effect.flatMap((upstream) => upstream.counters),
 *   Effect.map((counters) => counters.degraded.serverErrors)
 * )
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Counters {
  readonly received: number
  readonly healthy: PhaseCounters
  readonly degraded: PhaseCounters
  readonly recovered: PhaseCounters
}

/**
 * The part of a scenario that the upstream reads. A whole {@link Scenario.Scenario} fits.
 *
 * @example
 * ```ts
 * import { Scenario, type Upstream } from "@effect-resilience/outage-lab"
 *
 * const fast: Upstream.Options = { ...Scenario.defaultScenario, timeScale: 500 }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Seeds the generator that picks which degraded requests fail and how long each response takes. */
  readonly seed: number
  /** Scenario seconds per `Clock` second. */
  readonly timeScale: number
  readonly phases: Scenario.Phases
  readonly upstream: Scenario.UpstreamBehaviour
  /** The shape of the responses; `"generic"` when left out. */
  readonly api?: Api | undefined
}

/**
 * A running loopback upstream.
 *
 * @example
 * ```ts
 * import { Scenario, Upstream } from "@effect-resilience/outage-lab"
 * import { Effect } from "effect"
 *
 * const program = Effect.scoped(
 *   Effect.gen(function* () {
 *     const upstream = yield* Upstream.make({ ...Scenario.defaultScenario, timeScale: 200 })
 *     yield* Effect.log(`listening on ${upstream.url}`)
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Upstream {
  /** `http://127.0.0.1:PORT`, without a trailing slash. */
  readonly url: string
  /** The `Clock` time, in epoch milliseconds, at which scenario time 0 began. */
  readonly startedAt: number
  readonly timeScale: number
  /** Scenario seconds elapsed since {@link Upstream.startedAt}. */
  readonly scenarioTime: Effect.Effect<number>
  /** The phase at the current scenario time. */
  readonly phase: Effect.Effect<Phase>
  /** A snapshot of the counters. */
  readonly counters: Effect.Effect<Counters>
}

/**
 * The service tag of the upstream that {@link layer} provides.
 *
 * @example
 * ```ts
 * import { Upstream } from "@effect-resilience/outage-lab"
 * import { Effect } from "effect"
 *
 * const printUrl = Effect.flatMap(Upstream.Upstream, (upstream) => Effect.log(upstream.url))
 * ```
 *
 * @since 0.1.0
 * @category tags
 */
export const Upstream: Context.Tag<Upstream, Upstream> = Context.GenericTag<Upstream>(
  "@effect-resilience/outage-lab/Upstream"
)

/**
 * The phase at `seconds` of scenario time. The recovered phase lasts for ever once reached.
 *
 * @example
 * ```ts
 * import { Scenario, Upstream } from "@effect-resilience/outage-lab"
 *
 * Upstream.phaseAt(Scenario.defaultScenario.phases, 90) // "Degraded"
 * ```
 *
 * @since 0.1.0
 * @category phases
 */
export const phaseAt = (phases: Scenario.Phases, seconds: number): Phase =>
  seconds < phases.healthySeconds
    ? "Healthy"
    : seconds < phases.healthySeconds + phases.degradedSeconds
      ? "Degraded"
      : "Recovered"

/**
 * Converts scenario seconds into the wall-clock duration they take at `timeScale`, to the nearest millisecond.
 *
 * @example
 * ```ts
 * import { Upstream } from "@effect-resilience/outage-lab"
 *
 * Upstream.toWallDuration(60, 100) // 600 millis, rounded to a whole millisecond
 * ```
 *
 * @since 0.1.0
 * @category phases
 */
export const toWallDuration = (seconds: number, timeScale: number): Duration.Duration =>
  // Node's timers drop the fraction of a millisecond, which would shorten every short sleep by half a millisecond on
  // average; rounding keeps the mean right.
  Duration.millis(Math.round((seconds * 1000) / timeScale))

interface MutablePhaseCounters {
  received: number
  succeeded: number
  serverErrors: number
  rateLimited: number
}

interface Decision {
  readonly status: number
  readonly latencySeconds: number
  /** Whole scenario seconds for the `Retry-After` header of a 429. */
  readonly retryAfterSeconds?: number
}

const emptyCounters = (): MutablePhaseCounters => ({ received: 0, succeeded: 0, serverErrors: 0, rateLimited: 0 })

/**
 * Creates the recovered upstream's limiter, which keeps the arrival times of the requests of the last `windowSeconds`,
 * admitted or not. It returns `undefined` for a request it admits and the `Retry-After` seconds for one it rejects.
 *
 * Every request counts, 429s included, as gateways that count attempts do. The other common choice, counting
 * only admitted requests in fixed windows, lets the first `requestsPerWindow` requests of every window through however
 * hard a caller retries, so a retry storm would cost its sender nothing. With attempts counted, a caller that ignores
 * `Retry-After` and keeps the window full is held at 429 until its own rate falls below the limit.
 */
const makeLimiter = (capacity: Scenario.Capacity) => {
  const { requestsPerWindow, windowSeconds } = capacity
  const arrivals: Array<number> = []
  let oldest = 0

  return (seconds: number): number | undefined => {
    while (oldest < arrivals.length && arrivals[oldest]! <= seconds - windowSeconds) {
      oldest++
    }
    // Compacting now and then keeps the log as long as one window of arrivals.
    if (oldest > 4096 && oldest * 2 > arrivals.length) {
      arrivals.splice(0, oldest)
      oldest = 0
    }

    const inWindow = arrivals.length - oldest
    arrivals.push(seconds)
    if (inWindow < requestsPerWindow) {
      return undefined
    }

    // The window admits again once it contains requestsPerWindow - 1 arrivals, which is when the arrival that many
    // places before the newest one leaves it.
    const freedAt = arrivals[arrivals.length - requestsPerWindow]! + windowSeconds
    return Math.max(1, Math.ceil(freedAt - seconds))
  }
}

const genericBodies = {
  success: () => ({ object: "completion", output: "ok" }),
  degraded: (_status: number) => ({ error: "upstream degraded" }),
  rateLimited: () => ({ error: "rate limit exceeded" })
}

const anthropicError = (type: string, message: string) => ({ type: "error", error: { type, message } })

const makeAnthropicBodies = () => {
  let messages = 0
  return {
    success: () => {
      messages++
      return {
        id: `msg_loopback_${messages}`,
        type: "message",
        role: "assistant",
        content: [{ type: "text", text: "Summary: the ticket asks for a refund." }],
        model: "claude-loopback",
        stop_reason: "end_turn",
        stop_sequence: null,
        usage: { input_tokens: 24, output_tokens: 9 }
      }
    },
    degraded: (status: number) =>
      status === 529
        ? anthropicError("overloaded_error", "Overloaded")
        : anthropicError("api_error", "Internal server error"),
    rateLimited: () =>
      anthropicError("rate_limit_error", "This request would exceed the rate limit; retry after the retry-after header")
  }
}

/**
 * Starts the upstream on 127.0.0.1, on a port the system picks. Closing the scope stops the server.
 *
 * @example
 * ```ts
 * import { Scenario, Upstream } from "@effect-resilience/outage-lab"
 * import { HttpClient } from "@effect/platform"
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Effect } from "effect"
 *
 * const firstStatus = Effect.scoped(
 *   Effect.gen(function* () {
 *     const upstream = yield* Upstream.make({ ...Scenario.defaultScenario, timeScale: 200 })
 *     const response = yield* HttpClient.get(`${upstream.url}/v1/completions`)
 *     return response.status // 200: the scenario starts healthy
 *   })
 * ).pipe(Effect.provide(NodeHttpClient.layerUndici))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<Upstream, ServeError, Scope.Scope> =>
  Effect.gen(function* () {
    const { phases, timeScale, upstream: behaviour } = options
    const clock = yield* Effect.clock
    const random = SeededRandom.make(options.seed)
    const bodies = options.api === "anthropic" ? makeAnthropicBodies() : genericBodies
    const limit = makeLimiter(behaviour.capacity)

    const server = yield* NodeHttpServer.make(() => Http.createServer(), { port: 0, host: "127.0.0.1" })
    const address = server.address
    const url = address._tag === "TcpAddress" ? `http://127.0.0.1:${address.port}` : `http://unix:${address.path}`

    const startedAt = clock.unsafeCurrentTimeMillis()
    const scenarioSecondsAt = (millis: number): number => ((millis - startedAt) / 1000) * timeScale

    // Plain mutable state is safe here: each request's whole decision runs in one synchronous step, and the event loop
    // never interleaves two of them.
    const counters = { received: 0, healthy: emptyCounters(), degraded: emptyCounters(), recovered: emptyCounters() }

    const jitter = (seconds: number): number => seconds * (1 + behaviour.latencyJitter * (2 * random.nextFloat() - 1))

    const decideRecovered = (seconds: number): Decision => {
      const retryAfterSeconds = limit(seconds)
      return retryAfterSeconds === undefined
        ? { status: 200, latencySeconds: jitter(behaviour.successLatencySeconds) }
        : { status: 429, latencySeconds: jitter(behaviour.rateLimitLatencySeconds), retryAfterSeconds }
    }

    const decide = (seconds: number): Decision => {
      let phaseCounters: MutablePhaseCounters
      let decision: Decision
      switch (phaseAt(phases, seconds)) {
        case "Healthy":
          phaseCounters = counters.healthy
          decision = { status: 200, latencySeconds: jitter(behaviour.successLatencySeconds) }
          break
        case "Degraded":
          phaseCounters = counters.degraded
          decision =
            random.nextFloat() < behaviour.degradedErrorRate
              ? { status: behaviour.degradedStatus, latencySeconds: jitter(behaviour.errorLatencySeconds) }
              : { status: 200, latencySeconds: jitter(behaviour.successLatencySeconds) }
          break
        case "Recovered":
          phaseCounters = counters.recovered
          decision = decideRecovered(seconds)
          break
      }

      counters.received++
      phaseCounters.received++
      if (decision.status === 200) {
        phaseCounters.succeeded++
      } else if (decision.status === 429) {
        phaseCounters.rateLimited++
      } else {
        phaseCounters.serverErrors++
      }
      return decision
    }

    const bodyOf = (status: number): unknown => {
      if (status === 200) {
        return bodies.success()
      }
      return status === 429 ? bodies.rateLimited() : bodies.degraded(status)
    }

    const respond = (decision: Decision): HttpServerResponse.HttpServerResponse => {
      const { status, retryAfterSeconds } = decision
      return HttpServerResponse.unsafeJson(bodyOf(status), {
        status,
        headers: retryAfterSeconds === undefined ? undefined : { "retry-after": String(retryAfterSeconds) }
      })
    }

    const handle = Effect.suspend(() => {
      const decision = decide(scenarioSecondsAt(clock.unsafeCurrentTimeMillis()))
      return Effect.as(Effect.sleep(toWallDuration(decision.latencySeconds, timeScale)), respond(decision))
    })

    yield* server.serve(handle)

    const scenarioTime = Effect.sync(() => scenarioSecondsAt(clock.unsafeCurrentTimeMillis()))

    const result: Upstream = {
      url,
      startedAt,
      timeScale,
      scenarioTime,
      phase: Effect.map(scenarioTime, (seconds) => phaseAt(phases, seconds)),
      counters: Effect.sync(() => ({
        received: counters.received,
        healthy: { ...counters.healthy },
        degraded: { ...counters.degraded },
        recovered: { ...counters.recovered }
      }))
    }
    return result
  })

/**
 * Provides an {@link Upstream} that runs for the lifetime of the layer.
 *
 * @example
 * ```ts
 * import { Scenario, Upstream } from "@effect-resilience/outage-lab"
 * import { Effect } from "effect"
 *
 * const TestUpstream = Upstream.layer({ ...Scenario.defaultScenario, timeScale: 500 })
 *
 * const program = Effect.flatMap(Upstream.Upstream, (upstream) => upstream.counters).pipe(Effect.provide(TestUpstream))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<Upstream, ServeError> => Layer.scoped(Upstream, make(options))
