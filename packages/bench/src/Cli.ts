/**
 * The flags and help text of `pnpm bench`.
 */
import * as Config from "./Config.js"
import { formatCount } from "./Config.js"
import { type SuiteName, suiteNames } from "./Runner.js"

const callsPerRow = (config: Config.Config) => formatCount(config.timing.samples * config.timing.callsPerSample)

const largestKeyed = (config: Config.Config) => formatCount(Math.max(...config.keyedCounts))

const heapCounts = (config: Config.Config) => config.memoryCounts.map(formatCount).join(" and ")

const redisCalls = (config: Config.Config) =>
  formatCount(config.redis.timing.samples * config.redis.timing.callsPerSample)

const { full, quick } = Config

export const usage = `Usage: pnpm bench [--quick] [--only SUITE[,SUITE...]]

Measures the circuit breaker's per-call cost, heap per key and idle CPU against a bare loop, cockatiel, opossum
and Effect 4's breaker, and prints one table with the ratio of each row to its baseline.

  --quick        runs a smaller configuration for a smoke check, in under a minute on 2 cores:
                 ${callsPerRow(quick)} calls per timed row instead of ${callsPerRow(full)}, keyed rows up to ${largestKeyed(quick)} keys
                 instead of ${largestKeyed(full)}, heap rows at ${heapCounts(quick)} keys instead of ${heapCounts(full)},
                 idle windows of ${quick.idleMillis / 1000} s instead of ${full.idleMillis / 1000} s,
                 ${redisCalls(quick)} calls per Redis row instead of ${redisCalls(full)}
  --only SUITES  runs only the named suites, comma-separated: ${suiteNames.join(", ")}
  --help         prints this text

Run it through pnpm, which starts Node with --expose-gc; the heap rows need global.gc. The redis suite starts
redis-server (from PATH) on a free port of 127.0.0.1 and stops it when it ends.`

export interface Flags {
  readonly quick: boolean
  readonly help: boolean
  readonly only: ReadonlyArray<SuiteName> | undefined
}

const isSuiteName = (name: string): name is SuiteName => (suiteNames as ReadonlyArray<string>).includes(name)

/** Parses the command line, or returns the message that explains why it is invalid. */
export const parseFlags = (args: ReadonlyArray<string>): Flags | string => {
  let quick = false
  let help = false
  let only: Array<SuiteName> | undefined

  for (let index = 0; index < args.length; index++) {
    const arg = args[index]!
    if (arg === "--quick") quick = true
    else if (arg === "--help" || arg === "-h") help = true
    else if (arg === "--only" || arg.startsWith("--only=")) {
      const value = arg === "--only" ? args[++index] : arg.slice("--only=".length)
      if (value === undefined || value === "") return `--only needs a comma-separated list of: ${suiteNames.join(", ")}`
      only = []
      for (const name of value.split(",")) {
        if (!isSuiteName(name)) return `Unknown suite "${name}" in --only; expected one of: ${suiteNames.join(", ")}`
        only.push(name)
      }
    } else return `Unknown option "${arg}"; run pnpm bench --help for the options`
  }
  return { quick, help, only }
}
