import { describe, expect, it } from "@effect/vitest"
import { Report, Scenario, type Workers } from "../src/index.js"

const window = { recoveredAt: 100, endAt: 160, windowSeconds: 10 }

// Builds `successes` successes and `failures` failures of `kind` ending inside the window that starts at `start`.
const calls = (start: number, successes: number, failures: number, kind: Workers.Outcome["kind"] = "RateLimited") => [
  ...Array.from({ length: successes }, () => ({ at: start + 5, kind: "Success" as const })),
  ...Array.from({ length: failures }, () => ({ at: start + 5, kind }))
]

const healthyFrom = (start: number) => [100, 110, 120, 130, 140, 150].filter((at) => at >= start)

describe("Report.recoverySeconds", () => {
  it("healthy from the start is zero", () => {
    const outcomes = healthyFrom(100).flatMap((start) => calls(start, 100, 0))
    expect(Report.recoverySeconds(outcomes, window)).toBe(0)
  })

  it("counts whole windows until healthy", () => {
    const outcomes = [...calls(100, 10, 10), ...calls(110, 10, 10), ...healthyFrom(120).flatMap((s) => calls(s, 50, 0))]
    expect(Report.recoverySeconds(outcomes, window)).toBe(20)
  })

  it("exactly 95% is not healthy", () => {
    const outcomes = [...calls(100, 95, 5), ...healthyFrom(110).flatMap((s) => calls(s, 50, 0))]
    expect(Report.recoverySeconds(outcomes, window)).toBe(10)
  })

  it("just above 95% is healthy", () => {
    const outcomes = [...calls(100, 96, 4), ...healthyFrom(110).flatMap((s) => calls(s, 50, 0))]
    expect(Report.recoverySeconds(outcomes, window)).toBe(0)
  })

  it("local rejections count as failures", () => {
    const outcomes = [...calls(100, 10, 10, "Rejected"), ...healthyFrom(110).flatMap((s) => calls(s, 50, 0))]
    expect(Report.recoverySeconds(outcomes, window)).toBe(10)
  })

  it("a relapse restarts the count", () => {
    const outcomes = healthyFrom(100).flatMap((start) => calls(start, 50, start === 130 ? 50 : 0, "ServerError"))
    expect(Report.recoverySeconds(outcomes, window)).toBe(40)
  })

  it("an empty window is not healthy", () => {
    const outcomes = healthyFrom(100)
      .filter((start) => start !== 120)
      .flatMap((start) => calls(start, 50, 0))
    expect(Report.recoverySeconds(outcomes, window)).toBe(30)
  })

  it("unhealthy last window means not recovered", () => {
    const outcomes = healthyFrom(100).flatMap((start) => calls(start, 50, start === 150 ? 50 : 0))
    expect(Report.recoverySeconds(outcomes, window)).toBeNull()
  })

  it("ignores calls before recovery", () => {
    const outcomes = [...calls(90, 0, 100), ...healthyFrom(100).flatMap((s) => calls(s, 50, 0))]
    expect(Report.recoverySeconds(outcomes, window)).toBe(0)
  })

  it("leaves out a partial last window", () => {
    const outcomes = [...healthyFrom(100).flatMap((s) => calls(s, 50, 0)), ...calls(155, 0, 100)]
    expect(Report.recoverySeconds(outcomes, { ...window, endAt: 165 })).toBe(0)
  })
})

const figures = (overrides: Partial<Report.Figures>): Report.Figures => ({
  requestsReceived: 1000,
  wastedCalls: 500,
  rejectedLocally: 0,
  rateLimitedAfterRecovery: 10,
  tasksArrived: 100,
  tasksCompleted: 90,
  tasksAbandoned: 0,
  backlogAtRecovery: 20,
  backlogAtEnd: 10,
  recoverySeconds: 300,
  ...overrides
})

const compare = (baseline: Partial<Report.Figures>, breaker: Partial<Report.Figures>) =>
  Report.compare({
    baseline: figures(baseline),
    breaker: figures(breaker),
    scenario: Scenario.defaultScenario,
    timeScale: 110,
    api: "generic",
    policy: "failure-rate (50% failures among the calls of the last 30s, at least 10 calls)"
  })

describe("Report.compare", () => {
  it("a fifth of the waste meets the target", () => {
    expect(compare({ wastedCalls: 500 }, { wastedCalls: 100 }).wastedTargetMet).toBe(true)
  })

  it("more than a fifth misses it", () => {
    expect(compare({ wastedCalls: 500 }, { wastedCalls: 101 }).wastedTargetMet).toBe(false)
  })

  it("equal recovery meets the target", () => {
    expect(compare({ recoverySeconds: 300 }, { recoverySeconds: 300 }).recoveryTargetMet).toBe(true)
  })

  it("slower recovery misses it", () => {
    expect(compare({ recoverySeconds: 300 }, { recoverySeconds: 330 }).recoveryTargetMet).toBe(false)
  })

  it("no breaker recovery misses it", () => {
    expect(compare({ recoverySeconds: null }, { recoverySeconds: null }).recoveryTargetMet).toBe(false)
  })

  it("recovery beats a baseline that never recovered", () => {
    expect(compare({ recoverySeconds: null }, { recoverySeconds: 600 }).recoveryTargetMet).toBe(true)
  })

  it("zero baseline waste has no ratio", () => {
    expect(compare({ wastedCalls: 0 }, { wastedCalls: 0 }).wastedRatio).toBeNull()
  })
})

describe("Report rendering", () => {
  const comparison = compare(
    { wastedCalls: 18_012, recoverySeconds: 540, tasksAbandoned: 2_546 },
    { wastedCalls: 58, rejectedLocally: 616, recoverySeconds: null, tasksAbandoned: 1_956 }
  )

  it("table lists both runs per row", () => {
    const table = Report.renderTable(comparison)
    expect(table).toMatch(/failed requests while degraded \(wasted calls\) +18,012 +58/)
    expect(table).toMatch(/requests rejected locally +0 +616/)
    expect(table).toMatch(/recovery time +9m +not recovered/)
  })

  it("table counts abandoned tasks", () => {
    expect(Report.renderTable(comparison)).toMatch(/\ntasks abandoned +2,546 +1,956\n/)
  })

  it("table names the policy", () => {
    expect(Report.renderTable(comparison).split("\n")[1]).toBe(
      "Breaker policy: failure-rate (50% failures among the calls of the last 30s, at least 10 calls)"
    )
  })

  it("table states both verdicts", () => {
    const table = Report.renderTable(comparison)
    expect(table).toContain("(target at most 20%): met.")
    expect(table).toContain("(target no slower): not met.")
  })

  it("JSON carries the same figures", () => {
    const json = Report.toJson(comparison)
    expect(json.withoutBreaker.wastedCalls).toBe(18_012)
    expect(json.withBreaker.recoverySeconds).toBeNull()
    expect(json.withoutBreaker.tasksAbandoned).toBe(2_546)
    expect(json.policy).toMatch(/^failure-rate /)
    expect(json.targets.wastedTargetMet).toBe(true)
  })
})
