/**
 * One child process of `outage-lab --processes N`, started by `Fleet.runFleet` with tsx's loader. It takes its
 * {@link Fleet.ProcessConfig} as its only argument, prints `ready` once it has loaded and connected, reads one
 * {@link Fleet.StartSignal} line from stdin, runs its workers against that upstream until the fleet scenario ends, and
 * prints its {@link Fleet.ProcessResult} as one JSON line.
 *
 * @since 0.3.0
 */
import { createInterface } from "node:readline"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as Store from "@effect-resilience/circuit-breaker/Store"
import { RedisStore } from "@effect-resilience/redis"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Metric from "effect/Metric"
import * as Fleet from "./Fleet.js"
import * as Replay from "./Replay.js"
import * as Upstream from "./Upstream.js"
import * as Workers from "./Workers.js"

const config = JSON.parse(process.argv[2] ?? "null") as Fleet.ProcessConfig

const readStartSignal = Effect.async<Fleet.StartSignal>((resume) => {
  const lines = createInterface({ input: process.stdin })
  lines.once("line", (line) => {
    lines.close()
    resume(Effect.succeed(JSON.parse(line) as Fleet.StartSignal))
  })
})

const emptyPhase = { received: 0, succeeded: 0, serverErrors: 0, rateLimited: 0 }

const program = Effect.scoped(
  Effect.gen(function* () {
    const { scenario, timeScale, api, policy } = config
    // The trial lease is scenario time, like every duration the breaker reads; a minute is 0.6 wall seconds at 100.
    const factory =
      config.redis === null
        ? undefined
        : yield* RedisStore.make({ url: config.redis.url, prefix: config.redis.prefix, trialLease: "1 minute" })

    yield* Effect.sync(() => process.stdout.write(`${Fleet.readyLine}\n`))
    const signal = yield* readStartSignal

    // The upstream runs in the parent. Its scenario time is read here from this process's clock and the upstream's
    // start, which gives the same figure on one machine; its counters are the parent's to report.
    const wallClock = yield* Effect.clock
    const scenarioTime = Effect.sync(
      () => ((wallClock.unsafeCurrentTimeMillis() - signal.startedAt) / 1000) * timeScale
    )
    const upstream: Upstream.Upstream = {
      url: signal.url,
      startedAt: signal.startedAt,
      timeScale,
      scenarioTime,
      phase: Effect.map(scenarioTime, (seconds) => Upstream.phaseAt(scenario.phases, seconds)),
      counters: Effect.succeed({ received: 0, healthy: emptyPhase, degraded: emptyPhase, recovered: emptyPhase })
    }

    const workers = Workers.run({
      label: `process ${config.index + 1}`,
      scenario,
      timeScale,
      api,
      caller: Replay.breakerCaller({ scenario, api, breaker: Replay.breakerOptions(scenario, policy) }),
      upstream
    })
    // The HTTP module makes its breaker on the first request, in the worker's context, so the store has to be there.
    const result = yield* factory === undefined
      ? workers
      : Effect.provideService(workers, Store.CircuitStoreFactory, factory)
    const outages = yield* Metric.value(RedisStore.outages)

    const report: Fleet.ProcessResult = {
      index: config.index,
      workers: scenario.workers.count,
      calls: result.outcomes.length,
      rejectedLocally: result.rejectedLocally,
      tasksCompleted: result.tasksCompleted,
      storeOutages: outages.count
    }
    yield* Effect.sync(() => process.stdout.write(`${JSON.stringify(report)}\n`))
  })
)

// Only errors are logged, on stderr, which the parent keeps to explain a failure; stdout carries the protocol.
const Logging = Layer.merge(
  Logger.replace(Logger.defaultLogger, Logger.withConsoleError(Logger.logfmtLogger)),
  Logger.minimumLogLevel(LogLevel.Error)
)

Effect.runPromiseExit(program.pipe(Effect.provide(Layer.merge(NodeHttpClient.layerUndici, Logging)))).then((exit) => {
  if (exit._tag === "Failure") {
    process.stderr.write(`${String(exit.cause)}\n`)
  }
  process.exit(exit._tag === "Success" ? 0 : 1)
})
