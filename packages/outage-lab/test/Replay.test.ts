import { fileURLToPath } from "node:url"
import { NodeContext, NodeHttpClient } from "@effect/platform-node"
import { describe, expect, layer } from "@effect/vitest"
import { Context, Effect, Layer, Logger, LogLevel } from "effect"
import { Replay, Report, Scenario } from "../src/index.js"

const shortScenario = fileURLToPath(new URL("../scenarios/short-partial-outage.json", import.meta.url))

class Outcome extends Context.Tag("test/Outcome")<
  Outcome,
  { readonly scenario: Scenario.Scenario; readonly comparison: Report.Comparison }
>() {}

// One replay of the short scenario (about 10 wall seconds) is shared by every test below. The tests compare the two
// runs with each other and never with absolute times.
const ReplayOnce = Layer.effect(
  Outcome,
  Effect.gen(function* () {
    const scenario = yield* Scenario.load(shortScenario, process.cwd())
    const comparison = yield* Replay.run({ scenario, timeScale: scenario.timeScale })
    return { scenario, comparison }
  })
).pipe(
  Layer.provide(Layer.mergeAll(NodeContext.layer, NodeHttpClient.layerUndici)),
  Layer.provide(Logger.minimumLogLevel(LogLevel.Error))
)

describe("Replay of the short partial outage", () => {
  layer(ReplayOnce, { timeout: "60 seconds", excludeTestServices: true })((it) => {
    // Observed on a 2-core machine: the breaker run wasted 1.5% to 7% of the baseline's calls.
    it.effect("breaker wastes at most a fifth", () =>
      Effect.gen(function* () {
        const { wastedRatio } = (yield* Outcome).comparison
        expect(wastedRatio).not.toBeNull()
        expect(wastedRatio!).toBeLessThanOrEqual(Report.maxWastedRatio)
      })
    )

    it.effect("breaker rejects calls locally", () =>
      Effect.gen(function* () {
        const { baseline, breaker } = (yield* Outcome).comparison
        expect(baseline.rejectedLocally).toBe(0)
        expect(breaker.rejectedLocally).toBeGreaterThan(0)
      })
    )

    it.effect("both runs abandon late tasks", () =>
      Effect.gen(function* () {
        const { baseline, breaker } = (yield* Outcome).comparison
        expect(baseline.tasksAbandoned).toBeGreaterThan(0)
        expect(breaker.tasksAbandoned).toBeGreaterThan(0)
      })
    )

    it.effect("breaker run drains its backlog", () =>
      Effect.gen(function* () {
        const { breaker } = (yield* Outcome).comparison
        expect(breaker.recoverySeconds).not.toBeNull()
        expect(breaker.backlogAtEnd).toBeLessThanOrEqual(breaker.backlogAtRecovery / 10)
      })
    )

    // Eight runs of this scenario at time scale 100 on a 2-core machine, with another process using about one core,
    // saw the baseline never recover and the breaker run recover 180 s to 300 s after the upstream, out of 480 s; one
    // run on a machine with a load average near 6 took 435 s. So the test asserts only that the breaker run recovers
    // within the run and no later than the baseline, not how early.
    it.effect("breaker recovers no slower", () =>
      Effect.gen(function* () {
        const { comparison } = yield* Outcome
        expect(comparison.breaker.recoverySeconds).not.toBeNull()
        expect(comparison.recoveryTargetMet).toBe(true)
      })
    )
  })
})
