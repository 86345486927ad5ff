import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { NodeContext } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either } from "effect"
import { Scenario } from "../src/index.js"

const scenariosDir = fileURLToPath(new URL("../scenarios/", import.meta.url))

const messageOf = (input: unknown): string => {
  const result = Scenario.decode(input, "test.json")
  if (Either.isRight(result)) {
    throw new Error("expected the scenario to be rejected")
  }
  return result.left.message
}

const withField = (path: ReadonlyArray<string>, value: unknown): unknown => {
  const copy = structuredClone(Scenario.defaultScenario) as Record<string, any>
  let target = copy
  for (const key of path.slice(0, -1)) {
    target = target[key]
  }
  target[path[path.length - 1]!] = value
  return copy
}

const withoutField = (path: ReadonlyArray<string>): unknown => {
  const copy = structuredClone(Scenario.defaultScenario) as Record<string, any>
  let target = copy
  for (const key of path.slice(0, -1)) {
    target = target[key]
  }
  delete target[path[path.length - 1]!]
  return copy
}

describe("Scenario.decode", () => {
  it("accepts the default scenario", () => {
    expect(Scenario.decode(Scenario.defaultScenario, "default")).toEqual(Either.right(Scenario.defaultScenario))
  })

  it("shipped default file equals defaultScenario", () => {
    const json = JSON.parse(readFileSync(join(scenariosDir, "llm-api-partial-outage.json"), "utf8"))
    expect(Scenario.decode(json, "file")).toEqual(Either.right(Scenario.defaultScenario))
  })

  it.each(["short-partial-outage.json", "sixty-percent-partial-outage.json"])("shipped %s is valid", (file) => {
    const json = JSON.parse(readFileSync(join(scenariosDir, file), "utf8"))
    expect(Either.isRight(Scenario.decode(json, "file"))).toBe(true)
  })

  it("names source, field, value and range", () => {
    expect(messageOf(withField(["seed"], -1))).toBe(
      "Invalid scenario in test.json: seed is -1 but must be an integer from 0 to 4294967295"
    )
  })

  it.each([
    [["phases", "degradedSeconds"], 0, "phases.degradedSeconds is 0 but must be a number of seconds above 0"],
    [["phases", "healthySeconds"], -5, "phases.healthySeconds is -5 but must be a number of seconds, 0 or more"],
    [["phases", "recoveredSeconds"], "20 minutes", 'phases.recoveredSeconds is "20 minutes" but must be a number'],
    [["upstream", "degradedErrorRate"], 1.5, "upstream.degradedErrorRate is 1.5 but must be a fraction from 0 to 1"],
    [["upstream", "degradedStatus"], 404, "upstream.degradedStatus is 404 but must be an integer from 500 to 599"],
    [["upstream", "latencyJitter"], 1, "upstream.latencyJitter is 1 but must be a number from 0 up to"],
    [
      ["upstream", "capacity", "requestsPerWindow"],
      2.5,
      "upstream.capacity.requestsPerWindow is 2.5 but must be an integer from 1 to 1000000"
    ],
    [["workers", "count"], 0, "workers.count is 0 but must be an integer from 1 to 64"],
    [["workers", "maxRetries"], null, "workers.maxRetries is null but must be an integer from 0 to 100"],
    [["workers", "taskDeadlineSeconds"], 0, "workers.taskDeadlineSeconds is 0 but must be a number of seconds above 0"],
    [["breaker", "cooldownSeconds"], true, "breaker.cooldownSeconds is true but must be a number of seconds above 0"],
    [["timeScale"], 5000, "timeScale is 5000 but must be a number above 0 and at most 1000"],
    [["name"], "", 'name is "" but must be a non-empty string'],
    [["upstream"], "fast", 'upstream is "fast" but must be'],
    [
      ["recoveryWindowSeconds"],
      5000,
      "recoveryWindowSeconds is 5000 but must be at most phases.recoveredSeconds (1200)"
    ]
  ] as const)("rejects %j = %j", (path, value, expected) => {
    expect(messageOf(withField(path, value))).toContain(expected)
  })

  it("rejects a missing field", () => {
    expect(messageOf(withoutField(["workers", "taskArrivalsPerSecond"]))).toBe(
      "Invalid scenario in test.json: workers.taskArrivalsPerSecond is missing"
    )
  })

  it("rejects an unknown field", () => {
    expect(messageOf(withField(["phases", "degradedMinutes"], 22))).toBe(
      "Invalid scenario in test.json: phases.degradedMinutes is not a known field"
    )
  })

  it("rejects a non-object root", () => {
    expect(messageOf([1, 2])).toBe("Invalid scenario in test.json: the scenario is [1,2] but must be a JSON object")
  })

  it("names several problems", () => {
    const input = withField(["seed"], -1) as Record<string, any>
    input.workers.count = 0

    const message = messageOf(input)

    expect(message).toMatch(/^Invalid scenario in test\.json: seed is -1 but .*; workers\.count is 0 but .*$/)
    expect(message).not.toContain("more problem")
  })

  it("counts problems past three", () => {
    const input = withField(["seed"], -1) as Record<string, any>
    input.workers.count = 0
    input.name = 5
    input.extra = true
    input.other = true

    const message = messageOf(input)

    expect(message.split("; ")).toHaveLength(3)
    expect(message).toMatch(/ \(and 2 more problems\)$/)
  })
})

describe("Scenario.load", () => {
  const dir = mkdtempSync(join(tmpdir(), "outage-lab-scenario-"))
  const load = (file: string) => Scenario.load(file, dir).pipe(Effect.provide(NodeContext.layer))

  it.effect("loads a relative path", () =>
    Effect.gen(function* () {
      writeFileSync(join(dir, "ok.json"), JSON.stringify(Scenario.defaultScenario))
      const scenario = yield* load("ok.json")
      expect(scenario).toEqual(Scenario.defaultScenario)
    })
  )

  it.effect("reports a missing file", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(load("absent.json"))
      expect(error.message).toBe(`Cannot read scenario file ${join(dir, "absent.json")}: file not found`)
    })
  )

  it.effect("reports malformed JSON", () =>
    Effect.gen(function* () {
      writeFileSync(join(dir, "broken.json"), '{ "name": ')
      const error = yield* Effect.flip(load("broken.json"))
      expect(error.message).toMatch(new RegExp(`^Invalid JSON in scenario file ${join(dir, "broken.json")}: .+`))
    })
  )

  it.effect("reports a directory", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(load("."))
      expect(error.message).toBe(
        `Cannot read scenario file ${dir}: it is a directory; give the path of a scenario JSON file`
      )
    })
  )

  it.effect("reports an invalid value", () =>
    Effect.gen(function* () {
      writeFileSync(join(dir, "bad.json"), JSON.stringify(withField(["workers", "count"], 100)))
      const error = yield* Effect.flip(load("bad.json"))
      expect(error.message).toBe(
        `Invalid scenario in ${join(dir, "bad.json")}: workers.count is 100 but must be an integer from 1 to 64`
      )
    })
  )
})
