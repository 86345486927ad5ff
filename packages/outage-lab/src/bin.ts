#!/usr/bin/env tsx
/**
 * The entry point of `pnpm outage`. It parses the flags first and loads the HTTP stack only for a command line that
 * can run, so a mistyped flag is reported at once.
 *
 * @since 0.1.0
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Cli from "./Cli.js"

// `pnpm outage` runs this file from the package directory; INIT_CWD is where the user typed the command, so a
// relative --scenario path means what the user expects.
const cwd =
  process.env.npm_lifecycle_event === "outage" && process.env.INIT_CWD !== undefined
    ? process.env.INIT_CWD
    : process.cwd()

const clearLine = "\r\x1b[2K"

const progress = process.stderr.isTTY
  ? (line: string | undefined) =>
      Effect.sync(() => {
        // A terminal that reports no size has `columns` 0; the line is then cut at a width most terminals have.
        const columns = process.stderr.columns ?? 0
        const width = columns > 20 ? columns - 1 : 119
        process.stderr.write(line === undefined ? clearLine : `${clearLine}${line.slice(0, width)}`)
      })
  : undefined

const flags = Cli.parseFlags(process.argv.slice(2))

if (Either.isLeft(flags)) {
  Effect.runSync(Console.error(`outage: ${flags.left.message}`))
  process.exitCode = 2
} else {
  const [Command, NodeContext, NodeHttpClient, NodeRuntime, Cause, Exit, Layer, Logger, LogLevel] = await Promise.all([
    import("./Command.js"),
    import("@effect/platform-node/NodeContext"),
    import("@effect/platform-node/NodeHttpClient"),
    import("@effect/platform-node/NodeRuntime"),
    import("effect/Cause"),
    import("effect/Exit"),
    import("effect/Layer"),
    import("effect/Logger"),
    import("effect/LogLevel")
  ])

  // The breaker logs every transition, which is hundreds of lines per replay. Only errors are shown, on stderr, so
  // that stdout carries nothing but the table or the JSON.
  const Logging = Layer.merge(
    Logger.replace(Logger.defaultLogger, Logger.withConsoleError(Logger.logfmtLogger)),
    Logger.minimumLogLevel(LogLevel.Error)
  )

  const program = Command.run(flags.right, { cwd, progress }).pipe(
    Effect.provide(Layer.mergeAll(NodeContext.layer, NodeHttpClient.layerUndici, Logging))
  )

  NodeRuntime.runMain(program, {
    teardown: (exit, onExit) => {
      // The program returns its exit code; a failure here is a defect, which runMain has already printed.
      const code = Exit.isSuccess(exit)
        ? typeof exit.value === "number"
          ? exit.value
          : 0
        : Cause.isInterruptedOnly(exit.cause)
          ? 130
          : 1
      process.exitCode = code
      onExit(code)
    }
  })
}
