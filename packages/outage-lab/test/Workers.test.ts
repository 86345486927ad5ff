import { fileURLToPath } from "node:url"
import { NodeContext, NodeHttpClient } from "@effect/platform-node"
import { describe, expect, it } from "@effect/vitest"
import { Effect, Logger, LogLevel } from "effect"
import { Replay, Report, Scenario, Workers } from "../src/index.js"

// Every request fails for 30 scenario seconds, then the upstream recovers for 5; tasks arrive twice a second and are
// given 4 seconds. At time scale 50 the run takes 0.7 wall seconds.
const hopeless: Scenario.Scenario = {
  ...Scenario.defaultScenario,
  name: "hopeless",
  timeScale: 50,
  phases: { healthySeconds: 0, degradedSeconds: 30, recoveredSeconds: 5 },
  upstream: { ...Scenario.defaultScenario.upstream, degradedErrorRate: 1 },
  workers: { ...Scenario.defaultScenario.workers, taskArrivalsPerSecond: 2, taskDeadlineSeconds: 4 },
  recoveryWindowSeconds: 5
}

const runBaseline = (scenario: Scenario.Scenario) =>
  Workers.run({
    label: Replay.baselineLabel,
    scenario,
    timeScale: scenario.timeScale,
    api: "generic",
    caller: Workers.generic()
  }).pipe(Effect.provide(NodeHttpClient.layerUndici))

describe("Workers task deadline", () => {
  it.live("abandons tasks past their deadline", () =>
    Effect.gen(function* () {
      const result = yield* runBaseline(hopeless)

      // The 52 tasks that arrived before second 26 met only failures until their deadlines, and no attempt for them
      // starts after that, so none of them can complete.
      expect(result.tasksCompleted).toBeLessThanOrEqual(result.tasksArrived - 26 * 2)
      expect(result.tasksAbandoned).toBeGreaterThanOrEqual(26 * 2 - result.backlogAtEnd)
      expect(result.tasksCompleted + result.tasksAbandoned + result.backlogAtEnd).toBe(result.tasksArrived)
    })
  )

  it.live("abandoned tasks reach the report", () =>
    Effect.gen(function* () {
      const result = yield* runBaseline(hopeless)
      const figures = Report.figures(result, hopeless)

      expect(figures.tasksAbandoned).toBe(result.tasksAbandoned)
      const table = Report.renderTable(
        Report.compare({
          baseline: figures,
          breaker: figures,
          scenario: hopeless,
          timeScale: hopeless.timeScale,
          api: "generic",
          policy: "none"
        })
      )
      const count = result.tasksAbandoned.toLocaleString("en-US")
      expect(table).toMatch(new RegExp(`\\ntasks abandoned +${count} +${count}\\n`))
    })
  )

  // One worker, a task every 5 s, retries 0.4 s apart after errors that take 0.2 s: a task's six attempts would span
  // 3 s, but its deadline ends them after the attempt that starts at 0.6 s.
  it.live("no attempt after the deadline", () =>
    Effect.gen(function* () {
      const result = yield* runBaseline({
        ...hopeless,
        timeScale: 20,
        phases: { healthySeconds: 0, degradedSeconds: 20, recoveredSeconds: 1 },
        upstream: { ...hopeless.upstream, errorLatencySeconds: 0.2, latencyJitter: 0 },
        workers: {
          ...hopeless.workers,
          count: 1,
          taskArrivalsPerSecond: 0.2,
          retrySpacingSeconds: 0.4,
          taskDeadlineSeconds: 1
        }
      })

      expect(result.counters.degraded.received).toBeLessThanOrEqual(2 * result.tasksArrived)
    })
  )

  it.live("a long deadline abandons nothing", () =>
    Effect.gen(function* () {
      const result = yield* runBaseline({
        ...hopeless,
        workers: { ...hopeless.workers, taskDeadlineSeconds: 3600 }
      })
      expect(result.tasksAbandoned).toBe(0)
    })
  )
})

const sixtyPercent = fileURLToPath(new URL("../scenarios/sixty-percent-partial-outage.json", import.meta.url))

describe("Failure-rate policy in a 60% outage", () => {
  it.live("the breaker rejects calls while degraded", () =>
    Effect.gen(function* () {
      const scenario = yield* Scenario.load(sixtyPercent, process.cwd())
      const breaker = Replay.breakerOptions(scenario, "failure-rate")
      const result = yield* Workers.run({
        label: Replay.breakerLabel,
        scenario,
        timeScale: scenario.timeScale,
        api: "generic",
        caller: Replay.breakerCaller({ scenario, api: "generic", breaker })
      })

      const { healthySeconds, degradedSeconds } = scenario.phases
      const rejectedWhileDegraded = result.outcomes.filter(
        (outcome) =>
          outcome.kind === "Rejected" && outcome.at >= healthySeconds && outcome.at < healthySeconds + degradedSeconds
      )
      // Each opening rejects about one call per worker, and a 30 s cooldown fits eight times into the outage.
      expect(rejectedWhileDegraded.length).toBeGreaterThanOrEqual(scenario.workers.count * 2)
      expect(result.rejectedLocally).toBe(rejectedWhileDegraded.length + countRejectedAfter(result, scenario))
    }).pipe(
      Effect.provide(NodeContext.layer),
      Effect.provide(NodeHttpClient.layerUndici),
      Effect.provide(Logger.minimumLogLevel(LogLevel.Error))
    )
  )
})

const countRejectedAfter = (result: Workers.RunResult, scenario: Scenario.Scenario) =>
  result.outcomes.filter(
    (outcome) =>
      outcome.kind === "Rejected" && outcome.at >= scenario.phases.healthySeconds + scenario.phases.degradedSeconds
  ).length
