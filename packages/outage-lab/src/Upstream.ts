/**
 * A loopback HTTP upstream that follows a scenario: healthy, then degraded (most requests fail with a 5xx), then
 * recovered behind a capacity limit that responds 429 above it.
 *
 * The server listens on 127.0.0.1 on a port the system picks, and counts every request it receives by phase and by
 * response status. Scenario time starts when the server starts and runs `timeScale` times faster than the `Clock`.
 *
 * Every path and method gets the same treatment, so a client can call any URL under {@link Upstream.url}.
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
}

const emptyCounters = (): MutablePhaseCounters => ({ received: 0, succeeded: 0, serverErrors: 0, rateLimited: 0 })

const successBody = { object: "completion", output: "ok" }
const degradedBody = { error: "upstream degraded" }
const rateLimitedBody = { error: "rate limit exceeded" }

const respond = (status: number): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.unsafeJson(status === 200 ? successBody : status === 429 ? rateLimitedBody : degradedBody, {
    status
  })

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
    const recoveredAt = phases.healthySeconds + phases.degradedSeconds
    const { requestsPerWindow, windowSeconds } = behaviour.capacity

    const server = yield* NodeHttpServer.make(() => Http.createServer(), { port: 0, host: "127.0.0.1" })
    const address = server.address
    const url = address._tag === "TcpAddress" ? `http://127.0.0.1:${address.port}` : `http://unix:${address.path}`

    const startedAt = clock.unsafeCurrentTimeMillis()
    const scenarioSecondsAt = (millis: number): number => ((millis - startedAt) / 1000) * timeScale

    // Plain mutable state is safe here: each request's whole decision runs in one synchronous step, and the event loop
    // never interleaves two of them.
    const counters = { received: 0, healthy: emptyCounters(), degraded: emptyCounters(), recovered: emptyCounters() }
    let currentWindow = -1
    let receivedInWindow = 0

    const jitter = (seconds: number): number => seconds * (1 + behaviour.latencyJitter * (2 * random.nextFloat() - 1))

    const decideRecovered = (seconds: number): Decision => {
      const window = Math.floor((seconds - recoveredAt) / windowSeconds)
      if (window !== currentWindow) {
        currentWindow = window
        receivedInWindow = 0
      }

      receivedInWindow++
      return receivedInWindow <= requestsPerWindow
        ? { status: 200, latencySeconds: jitter(behaviour.successLatencySeconds) }
        : { status: 429, latencySeconds: jitter(behaviour.rateLimitLatencySeconds) }
    }

    const decide = (seconds: number): Decision => {
      const phase = phaseAt(phases, seconds)
      const phaseCounters =
        phase === "Healthy" ? counters.healthy : phase === "Degraded" ? counters.degraded : counters.recovered

      let decision: Decision
      switch (phase) {
        case "Healthy":
          decision = { status: 200, latencySeconds: jitter(behaviour.successLatencySeconds) }
          break
        case "Degraded":
          decision =
            random.nextFloat() < behaviour.degradedErrorRate
              ? { status: behaviour.degradedStatus, latencySeconds: jitter(behaviour.errorLatencySeconds) }
              : { status: 200, latencySeconds: jitter(behaviour.successLatencySeconds) }
          break
        case "Recovered":
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

    const handle = Effect.suspend(() => {
      const decision = decide(scenarioSecondsAt(clock.unsafeCurrentTimeMillis()))
      return Effect.as(Effect.sleep(toWallDuration(decision.latencySeconds, timeScale)), respond(decision.status))
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
