/**
 * The flags and help text of the `outage` command.
 *
 * This module imports nothing but `effect/Data` and `effect/Either`, so that the entry point can reject a bad command
 * line before it loads the HTTP stack, which takes a Node process more than a second.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import * as Either from "effect/Either"

/**
 * The parsed command line.
 *
 * @example
 * ```ts
 * import type { Cli } from "@effect-resilience/outage-lab"
 *
 * const flags: Cli.Flags = {
 *   help: false,
 *   json: true,
 *   scenarioFile: undefined,
 *   timeScale: 200,
 *   upstream: "generic",
 *   policy: undefined,
 *   processes: undefined
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Flags {
  readonly help: boolean
  readonly json: boolean
  /** The scenario file given with `--scenario`, as typed. */
  readonly scenarioFile: string | undefined
  /** The time scale given with `--time-scale`; the scenario's own when left out. */
  readonly timeScale: number | undefined
  /** The upstream's shape and the client the workers use, from `--upstream`; `"generic"` when left out. */
  readonly upstream: UpstreamName
  /** The breaker run's trip policy, from `--policy`; the replay's default when left out. */
  readonly policy: PolicyName | undefined
  /**
   * The number of processes from `--processes`: when given, the command compares a fleet of that many processes with
   * unshared breakers against the same fleet sharing one breaker through Redis, instead of running the replay.
   */
  readonly processes: number | undefined
}

/**
 * The values of `--upstream`, in the order the help lists them.
 *
 * @example
 * ```ts
 * import { Cli } from "@effect-resilience/outage-lab"
 *
 * const example = Cli.upstreamNames
 * ```
 *
 * @since 0.2.0
 * @category constants
 */
export const upstreamNames = ["generic", "anthropic"] as const

/**
 * A value of `--upstream`: `generic` for plain JSON over `HttpClient`, `anthropic` for the Messages API called
 * through `AnthropicClient`.
 *
 * @example
 * ```ts
 * import type { Cli } from "@effect-resilience/outage-lab"
 *
 * type Example = Cli.UpstreamName
 * ```
 *
 * @since 0.2.0
 * @category models
 */
export type UpstreamName = (typeof upstreamNames)[number]

/**
 * The values of `--policy`, in the order the help lists them.
 *
 * @example
 * ```ts
 * import { Cli } from "@effect-resilience/outage-lab"
 *
 * const example = Cli.policyNames
 * ```
 *
 * @since 0.2.0
 * @category constants
 */
export const policyNames = ["consecutive", "failure-rate"] as const

/**
 * A value of `--policy`: the trip policy of the breaker run.
 *
 * @example
 * ```ts
 * import type { Cli } from "@effect-resilience/outage-lab"
 *
 * type Example = Cli.PolicyName
 * ```
 *
 * @since 0.2.0
 * @category models
 */
export type PolicyName = (typeof policyNames)[number]

/**
 * A command line that cannot be run. The message is one line naming the flag or value and what is allowed.
 *
 * @example
 * ```ts
 * import { Cli } from "@effect-resilience/outage-lab"
 *
 * const error = new Cli.UsageError({ message: 'Unknown option "--fast"' })
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class UsageError extends Data.TaggedError("UsageError")<{
  readonly message: string
}> {}

/**
 * The largest `--time-scale` accepted. Above it most scenario latencies fall below the millisecond that Node's timers
 * can resolve.
 *
 * @example
 * ```ts
 * import { Cli } from "@effect-resilience/outage-lab"
 *
 * const example = Cli.maxTimeScale
 * ```
 *
 * @since 0.1.0
 * @category constants
 */
export const maxTimeScale = 1000

/**
 * The minimum value `--processes` accepts.
 *
 * @example
 * ```ts
 * import { Cli } from "@effect-resilience/outage-lab"
 *
 * const example = Cli.minProcesses
 * ```
 *
 * @since 0.3.0
 * @category constants
 */
export const minProcesses = 1

/**
 * The maximum value `--processes` accepts. Each is a Node process with its own HTTP stack, and more than this many
 * starve each other of CPU on a small machine, which would distort the compressed replay.
 *
 * @example
 * ```ts
 * import { Cli } from "@effect-resilience/outage-lab"
 *
 * const example = Cli.maxProcesses
 * ```
 *
 * @since 0.3.0
 * @category constants
 */
export const maxProcesses = 16

const optionList = "--json, --scenario FILE, --time-scale N, --upstream NAME, --policy NAME, --processes N, --help"

/**
 * Renders the text `--help` prints, with the built-in scenario's time scale and replay length.
 *
 * @example
 * ```ts
 * import { Cli } from "@effect-resilience/outage-lab"
 *
 * console.log(Cli.renderHelp({ timeScale: 110, replayWallSeconds: 47 }))
 * ```
 *
 * @since 0.1.0
 * @category help
 */
export const renderHelp = (defaults: {
  readonly timeScale: number
  readonly replayWallSeconds: number
}): string => `Usage: pnpm outage [--json] [--scenario FILE] [--time-scale N] [--upstream NAME] [--policy NAME]
                    [--processes N]

Replays an LLM API's partial outage over loopback HTTP twice: six workers with an aggressive retry,
first without a circuit breaker, then with one, and prints the two runs side by side.

Options:
  --json              Print the figures as JSON on stdout instead of the table.
  --scenario FILE     Load the scenario from a JSON file instead of the built-in one.
                      packages/outage-lab/scenarios/ holds examples of the format.
  --time-scale N      Scenario seconds per wall second, a number above 0 and at most ${maxTimeScale}.
                      Default: the scenario's own timeScale; ${defaults.timeScale} for the built-in scenario,
                      whose replay then takes about ${Math.ceil(defaults.replayWallSeconds)} wall seconds.
  --upstream NAME     generic (default): plain JSON, called with HttpClient;
                      anthropic: the Messages API, called with @effect/ai-anthropic's AnthropicClient.
  --policy NAME       The trip policy of the breaker run:
                      failure-rate (default): 50% failures among the calls of the last 30 s, at least 10 calls;
                      consecutive: the scenario's breaker.failureThreshold failures in a row (5 built in).
  --processes N       Instead of the replay, run the workers in N child processes (an integer from ${minProcesses} to ${maxProcesses})
                      against one upstream: once with a breaker in each process, once with one breaker
                      shared through a redis-server that the command starts on 127.0.0.1, and once as a
                      single process for reference. The scenario's workers are split over the processes.
                      Default scenario in this mode: the short one, about 20 wall seconds in all.
  -h, --help          Print this help and exit.

While the replay runs, a progress line is written to stderr when stderr is a terminal.
Exit codes: 0 after a replay, whatever its verdict; 2 for an invalid flag or scenario; 1 if the replay fails.`

const valueDescriptions = {
  "--scenario": "the path of a scenario JSON file",
  "--time-scale": `a number above 0 and at most ${maxTimeScale}`,
  "--upstream": `one of ${upstreamNames.join(", ")}`,
  "--policy": `one of ${policyNames.join(", ")}`,
  "--processes": `an integer from ${minProcesses} to ${maxProcesses}`
} as const

const parseProcesses = (raw: string): Either.Either<number, UsageError> => {
  const value = /^\s*\d+\s*$/.test(raw) ? Number(raw) : Number.NaN
  return Number.isSafeInteger(value) && value >= minProcesses && value <= maxProcesses
    ? Either.right(value)
    : Either.left(
        new UsageError({
          message: `Invalid value for --processes: "${raw}"; expected an integer from ${minProcesses} to ${maxProcesses}`
        })
      )
}

const parseTimeScale = (raw: string): Either.Either<number, UsageError> => {
  const value = raw.trim() === "" ? Number.NaN : Number(raw)
  return Number.isFinite(value) && value > 0 && value <= maxTimeScale
    ? Either.right(value)
    : Either.left(
        new UsageError({
          message: `Invalid value for --time-scale: "${raw}"; expected a number above 0 and at most ${maxTimeScale} (scenario seconds per wall second)`
        })
      )
}

const parseChoice = <const Name extends string>(
  option: string,
  raw: string,
  allowed: ReadonlyArray<Name>
): Either.Either<Name, UsageError> =>
  allowed.includes(raw as Name)
    ? Either.right(raw as Name)
    : Either.left(new UsageError({ message: `Invalid value for ${option}: "${raw}"; allowed: ${allowed.join(", ")}` }))

/**
 * Parses the arguments after the command name. Both `--flag value` and `--flag=value` are accepted; a flag given
 * twice is an error.
 *
 * @example
 * ```ts
 * import { Cli } from "@effect-resilience/outage-lab"
 *
 * Cli.parseFlags(["--json", "--time-scale", "200"]) // Right({ help: false, json: true, ... timeScale: 200 })
 * Cli.parseFlags(["--policy", "consecutive"]) // Right({ ... policy: "consecutive" })
 * Cli.parseFlags(["--fast"]) // Left(UsageError: Unknown option "--fast"; ...)
 * ```
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseFlags = (args: ReadonlyArray<string>): Either.Either<Flags, UsageError> => {
  let help = false
  let json = false
  let scenarioFile: string | undefined
  let timeScale: number | undefined
  let upstream: UpstreamName = "generic"
  let policy: PolicyName | undefined
  let processes: number | undefined
  const seen = new Set<string>()
  const fail = (message: string) => Either.left(new UsageError({ message }))

  for (let index = 0; index < args.length; index++) {
    const arg = args[index]!
    const equals = arg.startsWith("--") ? arg.indexOf("=") : -1
    const name = equals === -1 ? arg : arg.slice(0, equals)
    const inlineValue = equals === -1 ? undefined : arg.slice(equals + 1)
    const canonical = name === "-h" ? "--help" : name

    if (!arg.startsWith("-") || arg === "-" || arg === "--") {
      return fail(`Unexpected argument "${arg}"; this command takes only options: ${optionList}`)
    }
    if (seen.has(canonical)) {
      return fail(`Option ${canonical} was given more than once`)
    }
    seen.add(canonical)

    switch (canonical) {
      case "--help":
      case "--json": {
        if (inlineValue !== undefined) {
          return fail(`Option ${canonical} takes no value, but got "${inlineValue}"`)
        }
        if (canonical === "--help") {
          help = true
        } else {
          json = true
        }
        break
      }
      case "--scenario":
      case "--time-scale":
      case "--upstream":
      case "--policy":
      case "--processes": {
        let value = inlineValue
        if (value === undefined) {
          const next = args[index + 1]
          if (next === undefined || next.startsWith("--")) {
            return fail(`Option ${canonical} needs a value: ${valueDescriptions[canonical]}`)
          }
          value = next
          index++
        }

        switch (canonical) {
          case "--scenario": {
            if (value === "") {
              return fail(`Option --scenario needs a value: ${valueDescriptions[canonical]}`)
            }
            scenarioFile = value
            break
          }
          case "--time-scale": {
            const parsed = parseTimeScale(value)
            if (Either.isLeft(parsed)) {
              return Either.left(parsed.left)
            }
            timeScale = parsed.right
            break
          }
          case "--upstream": {
            const parsed = parseChoice(canonical, value, upstreamNames)
            if (Either.isLeft(parsed)) {
              return Either.left(parsed.left)
            }
            upstream = parsed.right
            break
          }
          case "--policy": {
            const parsed = parseChoice(canonical, value, policyNames)
            if (Either.isLeft(parsed)) {
              return Either.left(parsed.left)
            }
            policy = parsed.right
            break
          }
          case "--processes": {
            const parsed = parseProcesses(value)
            if (Either.isLeft(parsed)) {
              return Either.left(parsed.left)
            }
            processes = parsed.right
            break
          }
        }
        break
      }
      default:
        return fail(`Unknown option "${name}"; allowed: ${optionList}`)
    }
  }

  return Either.right({ help, json, scenarioFile, timeScale, upstream, policy, processes })
}
