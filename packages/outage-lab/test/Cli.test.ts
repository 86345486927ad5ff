import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import { Cli, Scenario } from "../src/index.js"
import { type Completed, spawnCommand } from "./spawn.js"

const packageDir = fileURLToPath(new URL("..", import.meta.url))
const repositoryDir = join(packageDir, "..", "..")
const tsx = join(repositoryDir, "node_modules", ".bin", "tsx")
const workDir = mkdtempSync(join(tmpdir(), "outage-lab-cli-"))

// The command `pnpm outage` runs, started from a scratch directory so that relative paths resolve there.
const runBin = (...args: ReadonlyArray<string>) =>
  spawnCommand(tsx, [join(packageDir, "src", "bin.ts"), ...args], workDir)

const expectUsageError = (result: Completed, message: string | RegExp) => {
  expect(result.code).toBe(2)
  expect(result.stdout).toBe("")
  expect(result.stderr.trimEnd().split("\n")).toHaveLength(1)
  expect(result.stderr).not.toMatch(/^\s+at /m)
  expect(result.stderr.trimEnd()).toMatch(message)
}

describe("Cli.parseFlags", () => {
  const defaults: Cli.Flags = {
    help: false,
    json: false,
    scenarioFile: undefined,
    timeScale: undefined,
    upstream: "generic",
    policy: undefined,
    processes: undefined
  }

  it("no flags means defaults", () => {
    expect(Cli.parseFlags([])).toEqual(Either.right(defaults))
  })

  it("reads separate and inline values", () => {
    expect(Cli.parseFlags(["--json", "--scenario", "a.json", "--time-scale=250"])).toEqual(
      Either.right({ ...defaults, json: true, scenarioFile: "a.json", timeScale: 250 })
    )
  })

  it.each(Cli.policyNames)("accepts policy %s", (policy) => {
    expect(Cli.parseFlags(["--policy", policy])).toEqual(Either.right({ ...defaults, policy }))
  })

  it("accepts an inline policy", () => {
    expect(Cli.parseFlags(["--policy=consecutive"])).toEqual(Either.right({ ...defaults, policy: "consecutive" }))
  })

  it("accepts the anthropic upstream", () => {
    expect(Cli.parseFlags(["--upstream", "anthropic"])).toEqual(Either.right({ ...defaults, upstream: "anthropic" }))
  })

  it.each([
    [
      ["--fast"],
      'Unknown option "--fast"; allowed: --json, --scenario FILE, --time-scale N, --upstream NAME, --policy NAME, --processes N, --help'
    ],
    [["extra"], 'Unexpected argument "extra"'],
    [["--json", "--json"], "Option --json was given more than once"],
    [["--json=yes"], 'Option --json takes no value, but got "yes"'],
    [["--scenario"], "Option --scenario needs a value"],
    [["--scenario", "--json"], "Option --scenario needs a value"],
    [["--time-scale", "abc"], 'Invalid value for --time-scale: "abc"; expected a number above 0 and at most 1000'],
    [["--time-scale=0"], 'Invalid value for --time-scale: "0"'],
    [["--time-scale", "1e9"], 'Invalid value for --time-scale: "1e9"'],
    [["--time-scale="], 'Invalid value for --time-scale: ""'],
    [["--policy", "slow"], 'Invalid value for --policy: "slow"; allowed: consecutive, failure-rate'],
    [["--policy=Consecutive"], 'Invalid value for --policy: "Consecutive"; allowed: consecutive, failure-rate'],
    [["--policy="], 'Invalid value for --policy: ""; allowed: consecutive, failure-rate'],
    [["--policy"], "Option --policy needs a value: one of consecutive, failure-rate"],
    [["--policy", "consecutive", "--policy", "failure-rate"], "Option --policy was given more than once"],
    [["--upstream", "openai"], 'Invalid value for --upstream: "openai"; allowed: generic, anthropic']
  ] as const)("rejects %j", (args, message) => {
    const result = Cli.parseFlags(args)
    expect(Either.isLeft(result) ? result.left.message : "accepted").toContain(message)
  })
})

describe.concurrent("outage command", () => {
  it.live("prints help", () =>
    Effect.gen(function* () {
      const result = yield* runBin("--help")
      expect(result.code).toBe(0)
      expect(result.stdout).toContain(
        "Usage: pnpm outage [--json] [--scenario FILE] [--time-scale N] [--upstream NAME] [--policy NAME]"
      )
      expect(result.stderr).toBe("")
    })
  )

  it.live("unknown flag exits 2", () =>
    Effect.gen(function* () {
      expectUsageError(yield* runBin("--verbose"), /^outage: Unknown option "--verbose"; allowed: /)
    })
  )

  it.live("bad time scale exits 2", () =>
    Effect.gen(function* () {
      expectUsageError(yield* runBin("--time-scale", "-3"), /^outage: Invalid value for --time-scale: "-3"; expected /)
    })
  )

  it.live("bad policy exits 2", () =>
    Effect.gen(function* () {
      expectUsageError(
        yield* runBin("--policy", "sliding"),
        /^outage: Invalid value for --policy: "sliding"; allowed: consecutive, failure-rate$/
      )
    })
  )

  it.live("missing file exits 2", () =>
    Effect.gen(function* () {
      expectUsageError(
        yield* runBin("--scenario", "nowhere.json"),
        `outage: Cannot read scenario file ${join(workDir, "nowhere.json")}: file not found`
      )
    })
  )

  it.live("malformed file exits 2", () =>
    Effect.gen(function* () {
      writeFileSync(join(workDir, "broken.json"), "{ not json")
      expectUsageError(
        yield* runBin("--scenario", "broken.json"),
        /^outage: Invalid JSON in scenario file .*broken\.json: /
      )
    })
  )

  it.live("invalid value exits 2", () =>
    Effect.gen(function* () {
      const scenario = { ...Scenario.defaultScenario, workers: { ...Scenario.defaultScenario.workers, count: "six" } }
      writeFileSync(join(workDir, "invalid.json"), JSON.stringify(scenario))
      expectUsageError(
        yield* runBin("--scenario", "invalid.json"),
        /^outage: Invalid scenario in .*invalid\.json: workers\.count is "six" but must be an integer from 1 to 64$/
      )
    })
  )

  it.live("root script passes flags", () =>
    Effect.gen(function* () {
      const result = yield* spawnCommand("pnpm", ["--silent", "outage", "--no-such-flag"], repositoryDir)
      expectUsageError(result, /^outage: Unknown option "--no-such-flag"/)
    })
  )

  it.live("json mode prints only JSON", () =>
    Effect.gen(function* () {
      const tiny: Scenario.Scenario = {
        ...Scenario.defaultScenario,
        name: "tiny",
        timeScale: 200,
        phases: { healthySeconds: 5, degradedSeconds: 40, recoveredSeconds: 60 },
        recoveryWindowSeconds: 10
      }
      writeFileSync(join(workDir, "tiny.json"), JSON.stringify(tiny))
      const result = yield* runBin("--json", "--scenario", "tiny.json", "--policy", "consecutive")

      expect(result.code).toBe(0)
      expect(result.stderr).toBe("")
      const report = JSON.parse(result.stdout)
      expect(report.scenario).toBe("tiny")
      expect(report.timeScale).toBe(200)
      expect(report.policy).toBe("consecutive (5 failures in a row)")
      expect(Object.keys(report.withoutBreaker)).toContain("wastedCalls")
      expect(Object.keys(report.withBreaker)).toContain("recoverySeconds")
    })
  )
})
