/**
 * One run of a replay: a loopback upstream following the scenario, a steady stream of tasks into a backlog, and
 * workers that take tasks from the backlog and call the upstream through a {@link Caller} with an aggressive retry.
 *
 * The model of the backlog:
 *
 * - Tasks arrive at `workers.taskArrivalsPerSecond` for the whole run, whatever the upstream does.
 * - A worker takes the oldest waiting task and makes one call for it, retried on a 5xx, a 429 or a transport error
 *   `maxRetries` times, `retrySpacingSeconds` apart, with no jitter, no backoff and no regard for `Retry-After`.
 * - A task whose calls all fail, because the retries ran out or because the breaker rejected a call, goes back to the
 *   end of the backlog, and the worker takes the next task at once.
 * - A worker whose call the breaker rejected first waits for the rejection's `retryAfter`, and at least
 *   `rejectionPauseSeconds`, so that an open breaker does not turn into a busy loop.
 * - A task is abandoned once `taskDeadlineSeconds` have passed since its arrival: no attempt for it starts after the
 *   deadline, and a worker that takes it from the backlog, or whose retries for it end, after the deadline drops it.
 *   An attempt that is running at the deadline finishes, and counts if it succeeds.
 *
 * The workers, their retry schedule and any breaker they share run on a {@link ScenarioClock}, so all of their
 * durations are scenario seconds.
 *
 * @since 0.1.0
 */

import * as AiError from "@effect/ai/AiError"
import * as AnthropicClient from "@effect/ai-anthropic/AnthropicClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type { ServeError } from "@effect/platform/HttpServerError"
import { CircuitBreaker } from "@effect-resilience/circuit-breaker"
import * as HttpCircuitBreaker from "@effect-resilience/circuit-breaker/HttpClient"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type * as Scenario from "./Scenario.js"
import * as ScenarioClock from "./ScenarioClock.js"
import * as Upstream from "./Upstream.js"

/**
 * The source of the workers' calls in one run: a function of the upstream that returns the effect of one call, one
 * HTTP request that fails on any status other than 2xx. It runs once per run, in the run's scope and on the run's
 * scenario clock.
 *
 * A breaker that the caller creates is therefore shared by all workers of the run and reads scenario time. It records
 * every attempt, because the workers' retry wraps the call.
 *
 * @example
 * ```ts
 * import type { Workers } from "@effect-resilience/outage-lab"
 * import { HttpClient } from "@effect/platform"
 * import { Effect } from "effect"
 *
 * // Calls GET /v1/models and fails on any status other than 2xx.
 * const listModels: Workers.Caller = (upstream) =>
 *   Effect.map(HttpClient.HttpClient, (client) =>
 *     HttpClient.filterStatusOk(client).get(`${upstream.url}/v1/models`)
 *   )
 * ```
 *
 * @since 0.2.0
 * @category callers
 */
export type Caller = (
  upstream: Upstream.Upstream
) => Effect.Effect<Effect.Effect<unknown, unknown>, never, Scope.Scope | HttpClient.HttpClient>

/**
 * The options of the built-in callers.
 *
 * @example
 * ```ts
 * import type { Workers } from "@effect-resilience/outage-lab"
 *
 * const protectedCalls: Workers.CallerOptions = { breaker: { name: "llm-api", failureThreshold: 5 } }
 * ```
 *
 * @since 0.2.0
 * @category callers
 */
export interface CallerOptions {
  /**
   * The options of the HTTP module's breaker around every attempt; no breaker when left out. Durations are scenario
   * time.
   */
  readonly breaker?: HttpCircuitBreaker.Options | undefined
}

// Tracing every request of a retry storm costs time that the compressed replay cannot spare.
const untraced = HttpClient.withTracerDisabledWhen(() => true)

/**
 * A caller that posts a small JSON body to `/v1/completions` with `@effect/platform`'s `HttpClient`, for the
 * `"generic"` upstream.
 *
 * With a breaker, the client is wrapped by `HttpCircuitBreaker.withCircuitBreaker`, so a rejected call fails with the
 * typed `CircuitBreakerOpen`, and a 429's `Retry-After` lengthens the cooldown of the opening it causes.
 *
 * @example
 * ```ts
 * import { Workers } from "@effect-resilience/outage-lab"
 *
 * const baseline = Workers.generic()
 * const protectedRun = Workers.generic({ breaker: { failureThreshold: 5, cooldown: "30 seconds" } })
 * ```
 *
 * @since 0.2.0
 * @category callers
 */
export const generic =
  (options: CallerOptions = {}): Caller =>
  (upstream) =>
    Effect.map(HttpClient.HttpClient, (base) => {
      const breaker = options.breaker
      const plain = base.pipe(
        // Reading every body lets the connection go back to the pool at once instead of when the response is collected.
        HttpClient.transformResponse(Effect.tap((response) => response.arrayBuffer)),
        HttpClient.filterStatusOk,
        untraced
      )
      // The breaker wraps each attempt, not the whole retry: see `run` for why.
      const client = breaker === undefined ? plain : HttpCircuitBreaker.withCircuitBreaker(plain, breaker)
      const request = HttpClientRequest.post(`${upstream.url}/v1/completions`).pipe(
        HttpClientRequest.bodyUnsafeJson({ prompt: "summarise the ticket" })
      )
      return client.execute(request)
    })

/**
 * A caller that sends one message through `@effect/ai-anthropic`'s `AnthropicClient`, pointed at the upstream with
 * `apiUrl`, for the `"anthropic"` upstream.
 *
 * With a breaker, the client's `transformClient` option is `HttpCircuitBreaker.transformClient(...)`. The client then
 * reports a rejection as an `AiError` whose chain of causes contains the `CircuitBreakerOpen`, and
 * `HttpCircuitBreaker.rejectionOf` finds it there.
 *
 * @example
 * ```ts
 * import { Workers } from "@effect-resilience/outage-lab"
 *
 * const protectedRun = Workers.anthropic({ breaker: { name: "anthropic", failureThreshold: 5 } })
 * ```
 *
 * @since 0.2.0
 * @category callers
 */
export const anthropic =
  (options: CallerOptions = {}): Caller =>
  (upstream) =>
    Effect.gen(function* () {
      const breaker = options.breaker
      // Called once per run, so that every request of the run shares one breaker.
      const protect = breaker === undefined ? undefined : HttpCircuitBreaker.transformClient(breaker)
      const client = yield* AnthropicClient.make({
        apiUrl: upstream.url,
        apiKey: Redacted.make("loopback-key"),
        transformClient: (client) => (protect === undefined ? untraced(client) : protect(untraced(client)))
      })
      return client.createMessage({
        payload: {
          model: "claude-loopback",
          max_tokens: 256,
          messages: [{ role: "user", content: "Summarise the ticket in one sentence." }]
        }
      })
    })

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
 *   api: "generic",
 *   caller: Workers.generic()
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
  /** The shape of the upstream's responses; it must match what `caller` expects. */
  readonly api: Upstream.Api
  readonly caller: Caller
  /** Called about four times a wall second while the run lasts. */
  readonly onProgress?: ((progress: Progress) => Effect.Effect<void>) | undefined
  /**
   * An upstream that is already running, for a run that shares it with workers in other processes; a fresh one
   * following the scenario when left out. The run then neither starts nor stops it, and reports its `counters`.
   */
  readonly upstream?: Upstream.Upstream | undefined
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
  /** Tasks dropped because their deadline passed. */
  readonly tasksAbandoned: number
  readonly rejectedLocally: number
  /** Tasks arrived but neither completed nor abandoned when the upstream recovered. */
  readonly backlogAtRecovery: number
  /** Tasks arrived but neither completed nor abandoned when the run ended. */
  readonly backlogAtEnd: number
}

interface Task {
  /** Scenario seconds after which the task is abandoned. */
  readonly deadline: number
}

// Ends a task's retries once its deadline has passed. It is not recorded as a call, and not retried.
const deadlinePassed = { _tag: "DeadlinePassed" } as const

const progressInterval = Duration.millis(250)
const arrivalTick = Duration.millis(2)

const statusOf = (error: unknown): number | undefined => {
  if (HttpClientError.isHttpClientError(error)) {
    return error._tag === "ResponseError" ? error.response.status : undefined
  }
  return AiError.isAiError(error) && error._tag === "HttpResponseError" ? error.response.status : undefined
}

const isTransportError = (error: unknown): boolean => {
  if (HttpClientError.isHttpClientError(error)) {
    return error._tag === "RequestError" && error.reason === "Transport"
  }
  return AiError.isAiError(error) && error._tag === "HttpRequestError" && error.reason === "Transport"
}

// A rejection wrapped by the HTTP module or by an AiError is unwrapped, so that `untilOpen` and the workers see the
// typed `CircuitBreakerOpen` whichever client made the call.
const unwrapRejection = (error: unknown): unknown =>
  Option.getOrElse(HttpCircuitBreaker.rejectionOf(error), () => error)

const isRetryable = (error: unknown): boolean => {
  if (CircuitBreaker.isCircuitBreakerOpen(error)) {
    return false
  }
  const status = statusOf(error)
  return status === undefined ? isTransportError(error) : status >= 500 || status === 429
}

const classify = (exit: Exit.Exit<unknown, unknown>): Outcome["kind"] => {
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
  if (isTransportError(error)) {
    return "TransportError"
  }

  const status = statusOf(error)
  if (status === undefined) {
    return "OtherFailure"
  }
  return status === 429 ? "RateLimited" : status >= 500 ? "ServerError" : "OtherStatus"
}

/**
 * Runs the scenario once against a fresh upstream with the given caller and returns what it measured. The run lasts
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
 *   api: "generic",
 *   caller: Workers.generic()
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

      const upstream = options.upstream ?? (yield* Upstream.make({ ...scenario, timeScale, api: options.api }))
      const scenarioClock = ScenarioClock.make(yield* Effect.clock, { timeScale, origin: upstream.startedAt })
      const onScenarioClock = Effect.withClock(scenarioClock)
      const call = yield* onScenarioClock(options.caller(upstream))

      const backlog = yield* Queue.unbounded<Task>()
      const outcomes: Array<Outcome> = []
      let tasksArrived = 0
      let tasksCompleted = 0
      let tasksAbandoned = 0
      let rejectedLocally = 0
      let backlogAtRecovery = 0

      // A call interrupted because the run ended has no outcome. A defect is recorded as a transport error before it
      // ends the run.
      const record = (exit: Exit.Exit<unknown, unknown>) =>
        Exit.isFailure(exit) && Cause.isInterruptedOnly(exit.cause)
          ? Effect.void
          : Effect.map(upstream.scenarioTime, (at) => {
              const kind = classify(exit)
              if (kind === "Rejected") {
                rejectedLocally++
              }
              outcomes.push({ at, kind })
            })

      // The breaker wraps each attempt, not the whole retry as docs/http.md advises for most clients. Outside the
      // retry it would record one failure per six attempts, and each task would send all six into a rate limiter that
      // counts them. Around each attempt, with `untilOpen` around the retry, the 429 that opens the breaker is the
      // last request sent, and its `Retry-After` sets the cooldown. Both runs keep one retry schedule, so they compare.
      const attempt = Effect.onExit(Effect.mapError(call, unwrapRejection), record)
      const retries = Schedule.recurs(workers.maxRetries)
      // A spacing of 0 means retrying as soon as the error arrives; a zero-length sleep would still cost a timer tick.
      const spaced: Schedule.Schedule<unknown> =
        workers.retrySpacingSeconds === 0
          ? retries
          : Schedule.intersect(retries, Schedule.spaced(Duration.seconds(workers.retrySpacingSeconds)))
      const retryPolicy = CircuitBreaker.untilOpen(Schedule.whileInput(spaced, isRetryable))

      const pastDeadline = (task: Task) => Effect.map(upstream.scenarioTime, (now) => now >= task.deadline)

      const callWithRetries = (task: Task) =>
        Effect.retry(
          Effect.flatMap(pastDeadline(task), (late) => (late ? Effect.fail(deadlinePassed) : attempt)),
          retryPolicy
        )

      const rejectionPause = Duration.seconds(workers.rejectionPauseSeconds)

      const abandon = Effect.sync(() => {
        tasksAbandoned++
      })

      const requeue = (task: Task) =>
        Effect.flatMap(pastDeadline(task), (late) => (late ? abandon : Queue.offer(backlog, task)))

      const handleTask = (task: Task) =>
        Effect.matchEffect(callWithRetries(task), {
          onSuccess: () =>
            Effect.sync(() => {
              tasksCompleted++
            }),
          onFailure: (error) => {
            if (!CircuitBreaker.isCircuitBreakerOpen(error)) {
              return requeue(task)
            }
            return Effect.zipRight(requeue(task), Effect.sleep(Duration.max(error.retryAfter, rejectionPause)))
          }
        })

      const takeTask = Effect.flatMap(Queue.take(backlog), (task) =>
        Effect.flatMap(pastDeadline(task), (late) => (late ? abandon : handleTask(task)))
      )
      const worker = onScenarioClock(Effect.forever(takeTask))

      // Timers fire a millisecond or two late, so the arrivals are counted from scenario time rather than from the
      // number of timer ticks: by scenario second t, exactly floor(t * rate) + 1 tasks have arrived.
      const arrive = Effect.flatMap(upstream.scenarioTime, (now) => {
        const due = Math.floor(Math.min(now, totalSeconds) * workers.taskArrivalsPerSecond) + 1
        const tasks: Array<Task> = []
        while (tasksArrived < due) {
          const arrivedAt = tasksArrived / workers.taskArrivalsPerSecond
          tasksArrived++
          tasks.push({ deadline: arrivedAt + workers.taskDeadlineSeconds })
        }
        return Queue.offerAll(backlog, tasks)
      })
      const arrivals = Effect.repeat(arrive, Schedule.spaced(arrivalTick))

      const waiting = () => tasksArrived - tasksCompleted - tasksAbandoned

      const sleepUntil = (seconds: number) =>
        Effect.flatMap(upstream.scenarioTime, (now) => Effect.sleep(wall(Math.max(0, seconds - now))))

      const snapshotAtRecovery = Effect.zipRight(
        sleepUntil(recoveredAt),
        Effect.sync(() => {
          backlogAtRecovery = waiting()
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
            backlog: waiting()
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
        tasksAbandoned,
        rejectedLocally,
        backlogAtRecovery,
        backlogAtEnd: waiting()
      }
    })
  )
