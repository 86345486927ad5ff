/**
 * The entry point of `pnpm bench`: parses the flags, runs the suites, and prints the table, the targets and the run's
 * duration on stdout, with progress on stderr.
 */
import * as os from "node:os"
import { parseFlags, usage } from "./Cli.js"
import * as Config from "./Config.js"
import * as Environment from "./Environment.js"
import { renderTable } from "./Report.js"
import { runBench } from "./Runner.js"
import * as Targets from "./Targets.js"

const loadAverage = () => os.loadavg()[0]!.toFixed(2)

const flags = parseFlags(process.argv.slice(2))
const gc = (globalThis as { gc?: () => void }).gc

if (typeof flags === "string") {
  process.stderr.write(`bench: ${flags}\n`)
  process.exitCode = 2
} else if (flags.help) {
  process.stdout.write(`${usage}\n`)
} else if (gc === undefined) {
  process.stderr.write("bench: global.gc is missing; start Node with --expose-gc, as pnpm bench does\n")
  process.exitCode = 2
} else {
  const config = flags.quick ? Config.quick : Config.full
  const started = Date.now()
  const loadBefore = loadAverage()
  const progress = (message: string) => {
    const seconds = Math.round((Date.now() - started) / 1000)
    process.stderr.write(`[${seconds} s] ${message}\n`)
  }

  const result = await runBench({ config, gc, only: flags.only, progress })
  const runName = config.name === "full" ? "Full" : "Quick"
  process.stdout.write(
    [
      `effect-resilience bench, ${config.name} run${flags.only === undefined ? "" : ` of ${flags.only.join(", ")}`}`,
      Environment.render(Environment.read()),
      `Load average over the last minute (other processes compete for the cores): ${loadBefore} at the start, ` +
        `${loadAverage()} at the end`,
      Config.describe(config),
      "",
      renderTable(result.sections),
      "",
      Targets.render(result.targets),
      "",
      `${runName} run took ${(result.elapsedMillis / 1000).toFixed(1)} s.`,
      ""
    ].join("\n")
  )
}
