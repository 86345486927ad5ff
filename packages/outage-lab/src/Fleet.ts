/**
 * The fleet comparison behind `outage-lab --processes N`: the scenario's workers split over N child processes that
 * call one loopback upstream, run once with a breaker in each process and once with one breaker that every process
 * shares through Redis, plus a single process as a reference.
 *
 * A breaker in each process learns of the outage only from that process's own calls, so each one pays the failures
 * that open it. A breaker shared through `@effect-resilience/redis` opens for the whole fleet on the failures that any
 * process sees. The comparison counts the calls the upstream failed during the outage, across the whole fleet.
 *
 * The child processes are Node processes started with tsx's loader on `fleetProcess.ts`. Each one gets its share of
 * the workers and of the task arrivals, waits until every process of the run has started, then runs the same worker
 * loop as the replay against the upstream the parent started, on a scenario clock with the same origin as the
 * upstream's. Every run ends `recoveryWindowSeconds` after the upstream recovers, because the wasted calls all fall
 * before the recovery.
 *
 * @since 0.3.0
 */
import { type ChildProcess, spawn } from "node:child_process"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"
import type { ServeError } from "@effect/platform/HttpServerError"
// The loopback package exports RedisServer only from an index that also loads vitest, which fails outside a test run,
// so the module is imported by its path.
import * as RedisServer from "@effect-resilience/loopback/RedisServer"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import type * as Cli from "./Cli.js"
import * as Replay from "./Replay.js"
import type * as Scenario from "./Scenario.js"
import * as Upstream from "./Upstream.js"

/**
 * The share of the scenario one child process runs.
 *
 * @example
 * ```ts
 * import { Fleet, Scenario } from "@effect-resilience/outage-lab"
 *
 * const shares: ReadonlyArray<Fleet.Share> = Fleet.split(Scenario.defaultScenario, 4) // 2, 2, 1, 1 workers
 * ```
 *
 * @since 0.3.0
 * @category models
 */
export interface Share {
  readonly workers: number
  /** The process's part of the scenario's task arrivals, in proportion to its workers. */
  readonly taskArrivalsPerSecond: number
}

/**
 * Splits the scenario's workers over `processes` as evenly as they go, the first processes taking one more when they
 * do not divide. With more processes than workers, each process gets one worker, so the fleet then has more workers
 * than the scenario. Each process receives tasks in proportion to its workers.
 *
 * @example
 * ```ts
 * import { Fleet, Scenario } from "@effect-resilience/outage-lab"
 *
 * Fleet.split(Scenario.defaultScenario, 3).map((share) => share.workers) // [2, 2, 2]
 * ```
 *
 * @since 0.3.0
 * @category planning
 */
export const split = (scenario: Scenario.Scenario, processes: number): ReadonlyArray<Share> => {
  const total = scenario.workers.count
  return Array.from({ length: processes }, (_, index) => {
    const workers = processes >= total ? 1 : Math.floor(total / processes) + (index < total % processes ? 1 : 0)
    return { workers, taskArrivalsPerSecond: (scenario.workers.taskArrivalsPerSecond * workers) / total }
  })
}

/**
 * The scenario a fleet run replays: the given one, with the recovered phase cut to `recoveryWindowSeconds`.
 *
 * @example
 * ```ts
 * import { Fleet, Scenario } from "@effect-resilience/outage-lab"
 *
 * Fleet.fleetScenario(Scenario.defaultScenario).phases.recoveredSeconds // 30
 * ```
 *
 * @since 0.3.0
 * @category planning
 */
export const fleetScenario = (scenario: Scenario.Scenario): Scenario.Scenario => ({
  ...scenario,
  phases: { ...scenario.phases, recoveredSeconds: scenario.recoveryWindowSeconds }
})

/**
 * The configuration the parent passes to a child process on its command line.
 *
 * @example
 * ```ts
 * import type { Fleet } from "@effect-resilience/outage-lab"
 *
 * type Example = Fleet.ProcessConfig
 * ```
 *
 * @since 0.3.0
 * @category protocol
 */
export interface ProcessConfig {
  readonly index: number
  /** The fleet scenario with this process's workers and arrivals. */
  readonly scenario: Scenario.Scenario
  readonly timeScale: number
  readonly api: Upstream.Api
  readonly policy: Cli.PolicyName
  /** The Redis that contains the shared circuit; `null` for a breaker in the process's memory. */
  readonly redis: { readonly url: string; readonly prefix: string } | null
}

/**
 * The start signal the parent writes to a child process's stdin once every process is ready: where the upstream listens and the
 * `Clock` time at which its scenario time began.
 *
 * @example
 * ```ts
 * import type { Fleet } from "@effect-resilience/outage-lab"
 *
 * type Example = Fleet.StartSignal
 * ```
 *
 * @since 0.3.0
 * @category protocol
 */
export interface StartSignal {
  readonly url: string
  readonly startedAt: number
}

/**
 * The result a child process prints as its last line on stdout.
 *
 * @example
 * ```ts
 * import type { Fleet } from "@effect-resilience/outage-lab"
 *
 * const rejectedAny = (result: Fleet.ProcessResult) => result.rejectedLocally > 0
 * ```
 *
 * @since 0.3.0
 * @category protocol
 */
export interface ProcessResult {
  readonly index: number
  readonly workers: number
  /** Calls the process made or had rejected, each attempt counted once. */
  readonly calls: number
  readonly rejectedLocally: number
  readonly tasksCompleted: number
  /** How often the Redis store lost Redis and fell back to circuits in the process; 0 without Redis. */
  readonly storeOutages: number
}

/**
 * The line a child process prints once it has loaded and connected, before it waits for the start signal.
 *
 * @example
 * ```ts
 * import { Fleet } from "@effect-resilience/outage-lab"
 *
 * const example = Fleet.readyLine
 * ```
 *
 * @since 0.3.0
 * @category protocol
 */
export const readyLine = "ready"

/**
 * The figures of one fleet run.
 *
 * @example
 * ```ts
 * import type { Fleet } from "@effect-resilience/outage-lab"
 *
 * type Example = Fleet.FleetRun
 * ```
 *
 * @since 0.3.0
 * @category models
 */
export interface FleetRun {
  readonly processes: number
  /** `memory`: a breaker in each process; `redis`: one circuit shared through Redis. */
  readonly store: "memory" | "redis"
  /** Requests the upstream received while degraded and failed with an error status, from every process. */
  readonly wastedCalls: number
  readonly requestsReceived: number
  readonly rejectedLocally: number
  /** How many processes had at least one call rejected by their breaker. */
  readonly processesThatRejected: number
  readonly storeOutages: number
  readonly perProcess: ReadonlyArray<ProcessResult>
}

/**
 * The fleet comparison.
 *
 * @example
 * ```ts
 * import type { Fleet } from "@effect-resilience/outage-lab"
 *
 * type Example = Fleet.Comparison
 * ```
 *
 * @since 0.3.0
 * @category models
 */
export interface Comparison {
  readonly scenario: string
  readonly timeScale: number
  readonly api: Upstream.Api
  readonly policy: string
  readonly processes: number
  readonly workersPerProcess: ReadonlyArray<number>
  readonly reference: FleetRun | undefined
  readonly unshared: FleetRun
  readonly shared: FleetRun
  /** The shared run's wasted calls divided by the unshared run's; `null` when the unshared run wasted none. */
  readonly sharedToUnshared: number | null
}

/**
 * A child process that failed to start, to report or to finish.
 *
 * @example
 * ```ts
 * import { Fleet } from "@effect-resilience/outage-lab"
 *
 * const isFleetError = (u: unknown): u is Fleet.FleetError => u instanceof Fleet.FleetError
 * ```
 *
 * @since 0.3.0
 * @category errors
 */
export class FleetError extends Data.TaggedError("FleetError")<{
  readonly message: string
}> {}

/**
 * The options of {@link run}.
 *
 * @example
 * ```ts
 * import type { Fleet } from "@effect-resilience/outage-lab"
 *
 * type Example = Fleet.Options
 * ```
 *
 * @since 0.3.0
 * @category models
 */
export interface Options {
  /** The scenario as loaded; its recovered phase is cut by {@link fleetScenario}. */
  readonly scenario: Scenario.Scenario
  readonly timeScale: number
  readonly processes: number
  readonly api?: Upstream.Api | undefined
  readonly policy?: Cli.PolicyName | undefined
  /** Whether to run the one-process reference as well; default true. */
  readonly reference?: boolean | undefined
  /** Receives a line naming the run that starts. */
  readonly onRunStart?: ((line: string) => Effect.Effect<void>) | undefined
}

const processFile = fileURLToPath(new URL("./fleetProcess.ts", import.meta.url))
const packageDir = fileURLToPath(new URL("..", import.meta.url))

/** Real time a child may take to load and connect, and then to finish once its run is over. */
const startupLimit = Duration.seconds(90)
const finishLimit = Duration.seconds(30)

type Event = { readonly _tag: "Line"; readonly line: string } | { readonly _tag: "Exit"; readonly code: number | null }

interface Child {
  readonly index: number
  readonly process: ChildProcess
  readonly next: Effect.Effect<string, FleetError>
}

const spawnChild = (config: ProcessConfig): Effect.Effect<Child, never, Scope.Scope> =>
  Effect.gen(function* () {
    const events = yield* Queue.unbounded<Event>()
    let stderr = ""
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        // `--import tsx` is resolved from the package directory, which depends on tsx.
        spawn(process.execPath, ["--import", "tsx", processFile, JSON.stringify(config)], {
          cwd: packageDir,
          stdio: ["pipe", "pipe", "pipe"]
        })
      ),
      (child) =>
        Effect.sync(() => {
          if (child.exitCode === null && child.signalCode === null) {
            child.kill()
          }
        })
    )
    child.stderr?.on("data", (chunk) => {
      stderr = (stderr + String(chunk)).slice(-2000)
    })
    createInterface({ input: child.stdout! }).on("line", (line) => {
      Queue.unsafeOffer(events, { _tag: "Line", line })
    })
    child.on("close", (code) => {
      Queue.unsafeOffer(events, { _tag: "Exit", code })
    })
    const next = Effect.flatMap(Queue.take(events), (event) =>
      event._tag === "Line"
        ? Effect.succeed(event.line)
        : Effect.fail(
            new FleetError({
              message: `process ${config.index + 1} exited with code ${event.code} before it reported: ${stderr.trim().split("\n").slice(-3).join(" | ")}`
            })
          )
    )
    return { index: config.index, process: child, next }
  })

const expectLine = (child: Child, limit: Duration.Duration, what: string) =>
  child.next.pipe(
    Effect.timeoutFail({
      duration: limit,
      onTimeout: () =>
        new FleetError({ message: `process ${child.index + 1} did not ${what} within ${Duration.format(limit)}` })
    })
  )

/**
 * Runs one fleet: `processes` child processes against one fresh upstream, with a breaker in each process or with the
 * circuit in the Redis at `redisUrl`.
 *
 * @example
 * ```ts
 * import { Fleet } from "@effect-resilience/outage-lab"
 *
 * const example = Fleet.runFleet
 * ```
 *
 * @since 0.3.0
 * @category running
 */
export const runFleet = (options: {
  readonly scenario: Scenario.Scenario
  readonly timeScale: number
  readonly processes: number
  readonly api: Upstream.Api
  readonly policy: Cli.PolicyName
  readonly redisUrl: string | undefined
}): Effect.Effect<FleetRun, FleetError | ServeError> =>
  Effect.scoped(
    Effect.gen(function* () {
      const scenario = fleetScenario(options.scenario)
      const shares = split(scenario, options.processes)
      // Each shared run has a Redis of its own, so one prefix serves them all.
      const prefix = "outage-lab-fleet"
      const children = yield* Effect.forEach(shares, (share, index) =>
        spawnChild({
          index,
          scenario: {
            ...scenario,
            workers: { ...scenario.workers, count: share.workers, taskArrivalsPerSecond: share.taskArrivalsPerSecond }
          },
          timeScale: options.timeScale,
          api: options.api,
          policy: options.policy,
          redis: options.redisUrl === undefined ? null : { url: options.redisUrl, prefix }
        })
      )

      // The upstream starts only when every process is ready, so no process misses the start of the scenario.
      yield* Effect.forEach(
        children,
        (child) =>
          Effect.flatMap(expectLine(child, startupLimit, "start"), (line) =>
            line === readyLine
              ? Effect.void
              : Effect.fail(
                  new FleetError({ message: `process ${child.index + 1} printed "${line}" instead of ready` })
                )
          ),
        { concurrency: "unbounded", discard: true }
      )

      const upstream = yield* Upstream.make({ ...scenario, timeScale: options.timeScale, api: options.api })
      const signal: StartSignal = { url: upstream.url, startedAt: upstream.startedAt }
      for (const child of children) {
        child.process.stdin?.write(`${JSON.stringify(signal)}\n`)
      }

      const runLimit = Duration.sum(
        Upstream.toWallDuration(
          scenario.phases.healthySeconds + scenario.phases.degradedSeconds + scenario.phases.recoveredSeconds,
          options.timeScale
        ),
        finishLimit
      )
      const perProcess = yield* Effect.forEach(
        children,
        (child) =>
          Effect.flatMap(expectLine(child, runLimit, "report"), (line) =>
            Effect.try({
              try: () => JSON.parse(line) as ProcessResult,
              catch: () =>
                new FleetError({ message: `process ${child.index + 1} printed "${line}" instead of its result` })
            })
          ),
        { concurrency: "unbounded" }
      )

      const counters = yield* upstream.counters
      const sum = (field: "rejectedLocally" | "storeOutages") =>
        perProcess.reduce((total, result) => total + result[field], 0)
      return {
        processes: options.processes,
        store: options.redisUrl === undefined ? "memory" : "redis",
        wastedCalls: counters.degraded.received - counters.degraded.succeeded,
        requestsReceived: counters.received,
        rejectedLocally: sum("rejectedLocally"),
        processesThatRejected: perProcess.filter((result) => result.rejectedLocally > 0).length,
        storeOutages: sum("storeOutages"),
        perProcess
      } satisfies FleetRun
    })
  )

/**
 * Runs the one-process reference (unless turned off), the fleet with a breaker in each process, and the fleet sharing
 * one breaker through a redis-server started on a free port of 127.0.0.1 for the shared run and stopped after it.
 *
 * @example
 * ```ts
 * import { Fleet, Scenario } from "@effect-resilience/outage-lab"
 * import { Effect } from "effect"
 *
 * const ratio = Fleet.run({ scenario: Scenario.defaultScenario, timeScale: 110, processes: 3 }).pipe(
 *   Effect.map((comparison) => comparison.sharedToUnshared)
 * )
 * ```
 *
 * @since 0.3.0
 * @category running
 */
export const run = (options: Options): Effect.Effect<Comparison, FleetError | ServeError> =>
  Effect.gen(function* () {
    const api = options.api ?? "generic"
    const policy = options.policy ?? Replay.defaultPolicy
    const common = { scenario: options.scenario, timeScale: options.timeScale, api, policy }
    const announce = options.onRunStart ?? (() => Effect.void)
    const runs = (options.reference ?? true) ? 3 : 2
    let started = 0
    const step = (name: string) => {
      started++
      return announce(`run ${started}/${runs}: ${name}`)
    }

    let reference: FleetRun | undefined
    if (options.reference ?? true) {
      yield* step("one process, one breaker in memory")
      reference = yield* runFleet({ ...common, processes: 1, redisUrl: undefined })
    }
    yield* step(`${options.processes} processes, a breaker in each`)
    const unshared = yield* runFleet({ ...common, processes: options.processes, redisUrl: undefined })
    yield* step(`${options.processes} processes, one breaker shared through Redis`)
    const shared = yield* Effect.scoped(
      Effect.flatMap(RedisServer.start, (server) =>
        runFleet({ ...common, processes: options.processes, redisUrl: server.url })
      )
    )

    return {
      scenario: options.scenario.name,
      timeScale: options.timeScale,
      api,
      policy: Replay.describePolicy(policy, options.scenario),
      processes: options.processes,
      workersPerProcess: split(options.scenario, options.processes).map((share) => share.workers),
      reference,
      unshared,
      shared,
      sharedToUnshared: unshared.wastedCalls === 0 ? null : shared.wastedCalls / unshared.wastedCalls
    }
  })

const formatCount = (value: number): string => value.toLocaleString("en-US")

/**
 * Renders the comparison as a table with a heading.
 *
 * @example
 * ```ts
 * import { Fleet, Scenario } from "@effect-resilience/outage-lab"
 * import { Effect } from "effect"
 *
 * // Runs the fleet comparison on a loaded scenario and prints the table.
 * const printComparison = (scenario: Scenario.Scenario) =>
 *   Effect.map(Fleet.run({ scenario, timeScale: scenario.timeScale, processes: 3 }), (comparison) =>
 *     console.log(Fleet.renderTable(comparison))
 *   )
 * ```
 *
 * @since 0.3.0
 * @category rendering
 */
export const renderTable = (comparison: Comparison): string => {
  const { processes } = comparison
  const runs: Array<readonly [string, FleetRun]> = []
  if (comparison.reference !== undefined) {
    runs.push(["1 process, 1 breaker (reference)", comparison.reference])
  }
  runs.push([`${processes} processes, ${processes} unshared breakers`, comparison.unshared])
  runs.push([`${processes} processes, 1 breaker shared in Redis`, comparison.shared])

  const rows: ReadonlyArray<ReadonlyArray<string>> = [
    ["", "fleet wasted calls", "requests received", "rejected locally", "processes that rejected"],
    ...runs.map(([label, figures]) => [
      label,
      formatCount(figures.wastedCalls),
      formatCount(figures.requestsReceived),
      formatCount(figures.rejectedLocally),
      `${figures.processesThatRejected} of ${figures.processes}`
    ])
  ]
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)))
  const lines = rows.map((row) =>
    row
      .map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!)))
      .join("   ")
  )
  const workers = comparison.workersPerProcess
  const total = workers.reduce((sum, count) => sum + count, 0)
  const outages = comparison.shared.storeOutages

  return [
    `Scenario ${comparison.scenario}, time scale ${comparison.timeScale}, ${comparison.api} upstream, policy ${comparison.policy}.`,
    `${total} workers split over ${processes} processes (${workers.join(" + ")}); the reference runs them all in one. Each run ends one recovery window after the recovery.`,
    "",
    ...lines,
    "",
    comparison.sharedToUnshared === null
      ? "The unshared fleet wasted no calls, so there is no ratio."
      : `Shared / unshared fleet wasted calls: ${comparison.sharedToUnshared.toFixed(2)}.`,
    ...(outages === 0 ? [] : [`The Redis store lost Redis ${outages} times during the shared run.`])
  ].join("\n")
}

/**
 * The comparison as a plain object for `--json`.
 *
 * @example
 * ```ts
 * import { Fleet } from "@effect-resilience/outage-lab"
 *
 * const serialise = (comparison: Fleet.Comparison) => JSON.stringify(Fleet.toJson(comparison), null, 2)
 * ```
 *
 * @since 0.3.0
 * @category rendering
 */
export const toJson = (comparison: Comparison) => ({
  ...comparison,
  reference: comparison.reference ?? null
})

/**
 * The scenario of `--processes` when no `--scenario` is given: the short outage, which the three runs replay in well
 * under a minute.
 *
 * @example
 * ```ts
 * import { Fleet } from "@effect-resilience/outage-lab"
 *
 * const example = Fleet.defaultScenarioFile
 * ```
 *
 * @since 0.3.0
 * @category scenarios
 */
export const defaultScenarioFile: string = fileURLToPath(
  new URL("../scenarios/short-partial-outage.json", import.meta.url)
)
