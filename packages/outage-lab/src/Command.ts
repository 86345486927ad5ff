/**
 * The program behind `pnpm outage`: it loads the scenario, runs the replay with a progress line, and prints the
 * comparison as a table or as JSON.
 *
 * Exit codes: 0 after a replay, whatever its verdict; 2 for a bad flag or scenario; 1 when the replay itself fails.
 *
 * @since 0.1.0
 */
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as Path from "@effect/platform/Path"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import type * as Cli from "./Cli.js"
import { renderHelp } from "./Cli.js"
import * as Fleet from "./Fleet.js"
import * as Replay from "./Replay.js"
import * as Report from "./Report.js"
import * as Scenario from "./Scenario.js"
import type * as Workers from "./Workers.js"

/**
 * The help text, with the built-in scenario's figures.
 *
 * @example
 * ```ts
 * import { Command } from "@effect-resilience/outage-lab"
 * import { Console } from "effect"
 *
 * const printHelp = Console.log(Command.helpText)
 * ```
 *
 * @since 0.1.0
 * @category help
 */
export const helpText: string = renderHelp({
  timeScale: Scenario.defaultScenario.timeScale,
  replayWallSeconds: Replay.wallSeconds(Scenario.defaultScenario, Scenario.defaultScenario.timeScale)
})

/**
 * The directory the command runs in, and the sink of its progress line, if any.
 *
 * @example
 * ```ts
 * import type { Command } from "@effect-resilience/outage-lab"
 *
 * const quiet: Command.Environment = { cwd: process.cwd(), progress: undefined }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Environment {
  /** The directory a relative `--scenario` path is resolved against. */
  readonly cwd: string
  /** Receives a progress line to show in place of the previous one, and `undefined` to clear it. */
  readonly progress: ((line: string | undefined) => Effect.Effect<void>) | undefined
}

const formatClock = (seconds: number): string => {
  const whole = Math.max(0, Math.floor(seconds))
  const minutes = Math.floor(whole / 60)
  return `${String(minutes).padStart(2, "0")}:${String(whole % 60).padStart(2, "0")}`
}

const describeProgress = (progress: Workers.Progress): string => {
  const run = progress.label === Replay.baselineLabel ? 1 : 2
  return [
    `run ${run}/2 (${progress.label})`,
    `${progress.phase.toLowerCase()}`,
    `${formatClock(progress.scenarioSeconds)}/${formatClock(progress.totalSeconds)} scenario time`,
    `${progress.requestsReceived.toLocaleString("en-US")} requests`,
    `${progress.tasksCompleted.toLocaleString("en-US")} tasks done`,
    `${progress.backlog.toLocaleString("en-US")} waiting`
  ].join(", ")
}

/**
 * Runs the command for parsed flags and returns the exit code. Scenario errors are printed on stderr as one line.
 *
 * @example
 * ```ts
 * import { Cli, Command } from "@effect-resilience/outage-lab"
 * import { NodeContext, NodeHttpClient } from "@effect/platform-node"
 * import { Effect, Either, Layer } from "effect"
 *
 * const flags = Either.getOrThrow(Cli.parseFlags(["--json", "--time-scale", "200"]))
 * const exitCode = Command.run(flags, { cwd: process.cwd(), progress: undefined }).pipe(
 *   Effect.provide(Layer.merge(NodeContext.layer, NodeHttpClient.layerUndici))
 * )
 * ```
 *
 * @since 0.1.0
 * @category running
 */
export const run = (
  flags: Cli.Flags,
  environment: Environment
): Effect.Effect<number, never, HttpClient.HttpClient | FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function* () {
    if (flags.help) {
      yield* Console.log(helpText)
      return 0
    }

    const progress = environment.progress

    if (flags.processes !== undefined) {
      const scenario = yield* Scenario.load(flags.scenarioFile ?? Fleet.defaultScenarioFile, environment.cwd)
      const comparison = yield* Fleet.run({
        scenario,
        timeScale: flags.timeScale ?? scenario.timeScale,
        processes: flags.processes,
        api: flags.upstream,
        policy: flags.policy,
        onRunStart: progress
      }).pipe(Effect.ensuring(progress === undefined ? Effect.void : progress(undefined)))
      yield* Console.log(flags.json ? JSON.stringify(Fleet.toJson(comparison), null, 2) : Fleet.renderTable(comparison))
      return 0
    }

    const scenario =
      flags.scenarioFile === undefined
        ? Scenario.defaultScenario
        : yield* Scenario.load(flags.scenarioFile, environment.cwd)
    const timeScale = flags.timeScale ?? scenario.timeScale

    const comparison = yield* Replay.run({
      scenario,
      timeScale,
      api: flags.upstream,
      policy: flags.policy,
      onProgress: progress === undefined ? undefined : (update) => progress(describeProgress(update))
    }).pipe(Effect.ensuring(progress === undefined ? Effect.void : progress(undefined)))

    yield* Console.log(flags.json ? JSON.stringify(Report.toJson(comparison), null, 2) : Report.renderTable(comparison))
    return 0
  }).pipe(
    Effect.catchTags({
      ScenarioError: (error) => Effect.as(Console.error(`outage: ${error.message}`), 2),
      FleetError: (error) => Effect.as(Console.error(`outage: a fleet process failed: ${error.message}`), 1),
      ServeError: (error) =>
        Effect.as(Console.error(`outage: the loopback upstream could not start: ${error.message}`), 1)
    })
  )
