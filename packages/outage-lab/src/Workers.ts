/**
 * One run of a replay: a loopback upstream following the scenario, a steady stream of tasks into a backlog, and
 * workers that take tasks from the backlog and call the upstream through a {@link Guard} with an aggressive retry.
 *
 * The model of the backlog:
 *
 * - Tasks arrive at `workers.taskArrivalsPerSecond` for the whole run, whatever the upstream does.
 * - A worker takes the oldest waiting task and makes one call for it, retried on a 5xx, a 429 or a transport error
 *   `maxRetries` times, `retrySpacingSeconds` apart, with no jitter and no backoff.
 * - A task whose calls all fail, because the retries ran out or because the breaker rejected a call, goes back to the
 *   end of the backlog, and the worker takes the next task at once.
 * - A worker whose call the breaker rejected first waits for the rejection's `retryAfter`, and at least
 *   `rejectionPauseSeconds`, so that an open breaker does not turn into a busy loop.
 *
 * @since 0.1.0
 */

import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type { ServeError } from "@effect/platform/HttpServerError"
import { CircuitBreaker } from "@effect-resilience/circuit-breaker"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type * as Scenario from "./Scenario.js"
import * as Upstream from "./Upstream.js"

/**
 * The failures a breaker adds to a protected call: its rejection, and any other error the breaker defines.
 *
 * @example
 * ```ts
 * import type { Workers } from "@effect-resilience/outage-lab"
 *
 * const describe = (failure: Workers.BreakerFailure) => failure._tag
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type BreakerFailure = Effect.Effect.Error<ReturnType<typeof CircuitBreaker.protect<void, never, never>>>

/**
 * A client whose failures include the upstream's error statuses and, when a breaker guards it, the breaker's
 * rejections.
 *
 * @example
 * ```ts
 * import type { Workers } from "@effect-resilience/outage-lab"
 * import { Effect } from "effect"
 *
 * const status = (client: Workers.GuardedClient) =>
 *   client.get("http://127.0.0.1:8080/v1/models").pipe(Effect.map((response) => response.status))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface GuardedClient extends HttpClient.HttpClient.With<HttpClientError.HttpClientError | BreakerFailure> {}

/**
 * Turns the workers' plain client into the client they call the upstream with. Every non-2xx status must become a
 * failure here, so that a breaker inside the guard counts it.
 *
 * The guard runs once per run, in the run's scope, so a breaker it creates is shared by all workers of the run.
 *
 * @example
 * ```ts
 * import type { Workers } from "@effect-resilience/outage-lab"
 * import { HttpClient } from "@effect/platform"
 * import { Effect } from "effect"
 *
 * // A guard that only logs: every call goes through and no breaker counts the failures.
 * const logging: Workers.Guard = (client) =>
 *   Effect.succeed(
 *     client.pipe(
 *       HttpClient.filterStatusOk,
 *       HttpClient.tapError((error) => Effect.logDebug(error.message))
 *     )
 *   )
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export type Guard = (client: HttpClient.HttpClient) => Effect.Effect<GuardedClient, never, Scope.Scope>

/**
 * The guard of the run without a breaker: a non-2xx status fails the call, and nothing else changes.
 *
 * @example
 * ```ts
 * import { Workers } from "@effect-resilience/outage-lab"
 *
 * const baseline = Workers.unguarded
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const unguarded: Guard = (client) => Effect.succeed(HttpClient.filterStatusOk(client))

/**
 * A guard that runs every call through one {@link CircuitBreaker.CircuitBreaker} made from `options`. A 5xx or a 429
 * counts as a failure for the breaker because `filterStatusOk` runs inside `protect`.
 *
 * @example
 * ```ts
 * import { Workers } from "@effect-resilience/outage-lab"
 *
 * const guard = Workers.circuitBreaker({ name: "llm-api", failureThreshold: 5, cooldown: "30 seconds" })
 * ```
 *
 * @since 0.1.0
 * @category guards
 */
export const circuitBreaker =
  (options: CircuitBreaker.Options): Guard =>
  (client) =>
    Effect.map(CircuitBreaker.make(options), (breaker) =>
      client.pipe(
        HttpClient.filterStatusOk,
        HttpClient.transform((call) => breaker.protect(call))
      )
    )

/**
 * The result of one call made by a worker. `Rejected` is a call the breaker rejected without sending it, and
 * `OtherFailure` a failure that is neither an HTTP error nor a rejection, such as a breaker's call timeout.
 *
 * @example
 * ```ts
 * import type { Workers } from "@effect-resilience/outage-lab"
 *
 * const failed = (outcome: Workers.Outcome) => outcome.kind !== "Success"
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Outcome {
  /** Scenario seconds at which the call ended. */
  readonly at: number
  readonly kind:
    | "Success"
    | "ServerError"
    | "RateLimited"
    | "OtherStatus"
    | "TransportError"
    | "Rejected"
    | "OtherFailure"
}

/**
 * The progress of a run, for a progress line.
 *
 * @example
 * ```ts
 * import type { Workers } from "@effect-resilience/outage-lab"
 *
 * const line = (progress: Workers.Progress) =>
 *   `${progress.label}: ${progress.phase} ${Math.round(progress.scenarioSeconds)}/${progress.totalSeconds} s`
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Progress {
  readonly label: string
  readonly phase: Upstream.Phase
  readonly scenarioSeconds: number
  readonly totalSeconds: number
  readonly requestsReceived: number
  readonly tasksCompleted: number
  readonly backlog: number
}

/**
 * The options of one run.
 *
 * @example
 * ```ts
 * import { Scenario, Workers } from "@effect-resilience/outage-lab"
 *
 * const options: Workers.RunOptions = {
 *   label: "without breaker",
 *   scenario: Scenario.defaultScenario,
 *   timeScale: Scenario.defaultScenario.timeScale,
 *   guard: Workers.unguarded
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface RunOptions {
  /** A name for the run, shown in progress updates. */
  readonly label: string
  readonly scenario: Scenario.Scenario
  /** Scenario seconds per wall second; overrides `scenario.timeScale`. */
  readonly timeScale: number
  readonly guard: Guard
  /** Called about four times a wall second while the run lasts. */
  readonly onProgress?: ((progress: Progress) => Effect.Effect<void>) | undefined
}

/**
 * The measurements of one run.
 *
 * @example
 * ```ts
 * import type { Workers } from "@effect-resilience/outage-lab"
 *
 * const successShare = (result: Workers.RunResult) =>
 *   result.outcomes.filter((outcome) => outcome.kind === "Success").length / result.outcomes.length
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface RunResult {
  readonly label: string
  readonly counters: Upstream.Counters
  /** Every call the workers made or had rejected, in the order the calls ended. */
  readonly outcomes: ReadonlyArray<Outcome>
  readonly tasksArrived: number
  readonly tasksCompleted: number
  readonly rejectedLocally: number
  /** Tasks arrived but not completed when the upstream recovered: waiting in the backlog or being worked on. */
  readonly backlogAtRecovery: number
  /** Tasks arrived but not completed when the run ended. */
  readonly backlogAtEnd: number
}

interface Task {
  readonly id: number
}

const progressInterval = Duration.millis(250)
const arrivalTick = Duration.millis(2)

const isRetryable = (error: CallError): boolean => {
  if (!HttpClientError.isHttpClientError(error)) {
    return false
  }
  return error._tag === "RequestError"
    ? error.reason === "Transport"
    : error.response.status >= 500 || error.response.status === 429
}

type CallError = HttpClientError.HttpClientError | BreakerFailure

const classify = (exit: Exit.Exit<unknown, CallError>): Outcome["kind"] => {
  if (Exit.isSuccess(exit)) {
    return "Success"
  }

  const failure = Cause.failureOption(exit.cause)
  if (Option.isNone(failure)) {
    return "TransportError"
  }
  const error = failure.value
  if (CircuitBreaker.isCircuitBreakerOpen(error)) {
    return "Rejected"
  }
  if (!HttpClientError.isHttpClientError(error)) {
    return "OtherFailure"
  }
  if (error._tag === "RequestError") {
    return "TransportError"
  }

  const status = error.response.status
  return status === 429 ? "RateLimited" : status >= 500 ? "ServerError" : "OtherStatus"
}

/**
 * Runs the scenario once against a fresh upstream with the given guard and returns what it measured. The run lasts
 * the scenario's three phases, in wall time divided by `timeScale`.
 *
 * @example
 * ```ts
 * import { Scenario, Workers } from "@effect-resilience/outage-lab"
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Effect } from "effect"
 *
 * const baseline = Workers.run({
 *   label: "without breaker",
 *   scenario: Scenario.defaultScenario,
 *   timeScale: Scenario.defaultScenario.timeScale,
 *   guard: Workers.unguarded
 * }).pipe(Effect.provide(NodeHttpClient.layerUndici))
 * ```
 *
 * @since 0.1.0
 * @category running
 */
export const run = (options: RunOptions): Effect.Effect<RunResult, ServeError, HttpClient.HttpClient> =>
  Effect.scoped(
    Effect.gen(function* () {
      const { scenario, timeScale } = options
      const { phases, workers } = scenario
      const wall = (seconds: number) => Upstream.toWallDuration(seconds, timeScale)
      const recoveredAt = phases.healthySeconds + phases.degradedSeconds
      const totalSeconds = recoveredAt + phases.recoveredSeconds

      const upstream = yield* Upstream.make({ ...scenario, timeScale })
      const client = (yield* HttpClient.HttpClient).pipe(
        // Reading every body lets the connection go back to the pool at once instead of when the response is collected.
        HttpClient.transformResponse(Effect.tap((response) => response.arrayBuffer)),
        HttpClient.withTracerDisabledWhen(() => true)
      )
      const guarded = yield* options.guard(client)
      const request = HttpClientRequest.post(`${upstream.url}/v1/completions`).pipe(
        HttpClientRequest.bodyUnsafeJson({ prompt: "summarise the ticket" })
      )

      const backlog = yield* Queue.unbounded<Task>()
      const outcomes: Array<Outcome> = []
      let tasksArrived = 0
      let tasksCompleted = 0
      let rejectedLocally = 0
      let backlogAtRecovery = 0

      // A call interrupted because the run ended has no outcome. A defect is recorded as a transport error before it
      // ends the run.
      const record = (exit: Exit.Exit<unknown, CallError>) =>
        Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause)
          ? Effect.void
          : Effect.map(upstream.scenarioTime, (at) => {
              const kind = classify(exit)
              if (kind === "Rejected") {
                rejectedLocally++
              }
              outcomes.push({ at, kind })
            })

      const attempt = Effect.onExit(guarded.execute(request), record)
      // A spacing of 0 means retrying as soon as the error arrives; a zero-length sleep would still cost a timer tick.
      const retries = Schedule.recurs(workers.maxRetries)
      const spaced: Schedule.Schedule<unknown> =
        workers.retrySpacingSeconds === 0
          ? retries
          : Schedule.intersect(retries, Schedule.spaced(wall(workers.retrySpacingSeconds)))
      const retryPolicy = CircuitBreaker.untilOpen(Schedule.whileInput(spaced, isRetryable))
      const call = Effect.retry(attempt, retryPolicy)
      const rejectionPause = Duration.toMillis(wall(workers.rejectionPauseSeconds))

      const handleTask = (task: Task) =>
        Effect.matchEffect(call, {
          onSuccess: () =>
            Effect.sync(() => {
              tasksCompleted++
            }),
          onFailure: (error) => {
            const requeue = Queue.offer(backlog, task)
            if (!CircuitBreaker.isCircuitBreakerOpen(error)) {
              return requeue
            }

            // `retryAfter` is a `Clock` duration, so it is already in wall time.
            const wait = Duration.millis(Math.max(Duration.toMillis(error.retryAfter), rejectionPause))
            return Effect.zipRight(requeue, Effect.sleep(wait))
          }
        })

      const worker = Effect.forever(Effect.flatMap(Queue.take(backlog), handleTask))

      // Timers fire a millisecond or two late, so the arrivals are counted from scenario time rather than from the
      // number of timer ticks: by scenario second t, exactly floor(t * rate) + 1 tasks have arrived.
      const arrive = Effect.flatMap(upstream.scenarioTime, (now) => {
        const due = Math.floor(Math.min(now, totalSeconds) * workers.taskArrivalsPerSecond) + 1
        const tasks: Array<Task> = []
        while (tasksArrived < due) {
          tasksArrived++
          tasks.push({ id: tasksArrived })
        }
        return Queue.offerAll(backlog, tasks)
      })
      const arrivals = Effect.repeat(arrive, Schedule.spaced(arrivalTick))

      const sleepUntil = (seconds: number) =>
        Effect.flatMap(upstream.scenarioTime, (now) => Effect.sleep(wall(Math.max(0, seconds - now))))

      const snapshotAtRecovery = Effect.zipRight(
        sleepUntil(recoveredAt),
        Effect.sync(() => {
          backlogAtRecovery = tasksArrived - tasksCompleted
        })
      )

      const fibers: Array<Fiber.Fiber<unknown>> = [
        yield* Effect.fork(arrivals),
        yield* Effect.fork(snapshotAtRecovery),
        ...(yield* Effect.forEach(Array.from({ length: workers.count }), () => Effect.fork(worker)))
      ]

      const onProgress = options.onProgress
      if (onProgress !== undefined) {
        const report = Effect.gen(function* () {
          const scenarioSeconds = yield* upstream.scenarioTime
          const counters = yield* upstream.counters
          yield* onProgress({
            label: options.label,
            phase: Upstream.phaseAt(phases, scenarioSeconds),
            scenarioSeconds: Math.min(scenarioSeconds, totalSeconds),
            totalSeconds,
            requestsReceived: counters.received,
            tasksCompleted,
            backlog: tasksArrived - tasksCompleted
          })
        })
        fibers.push(yield* Effect.fork(Effect.repeat(report, Schedule.spaced(progressInterval))))
      }

      // Every forked fiber loops for ever, so joining them completes only when one of them dies. A defect in a worker
      // then fails the run instead of silently leaving fewer workers.
      yield* Effect.raceFirst(sleepUntil(totalSeconds), Fiber.joinAll(fibers))
      yield* Fiber.interruptAll(fibers)

      return {
        label: options.label,
        counters: yield* upstream.counters,
        outcomes,
        tasksArrived,
        tasksCompleted,
        rejectedLocally,
        backlogAtRecovery,
        backlogAtEnd: tasksArrived - tasksCompleted
      }
    })
  )
