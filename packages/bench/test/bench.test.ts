import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"
import { beforeAll, describe, expect, it } from "@effect/vitest"
import { parseFlags } from "../src/Cli.js"
import * as Config from "../src/Config.js"
import { renderTable, type Section } from "../src/Report.js"
import * as RowIds from "../src/RowIds.js"
import { type Result, runBench, suiteNames } from "../src/Runner.js"
import * as Redis from "../src/suites/redis.js"

// Vitest's workers start without --expose-gc. Setting the flag now installs `gc` in contexts created afterwards.
setFlagsFromString("--expose-gc")
const gc = runInNewContext("gc") as () => void

// The smallest configuration: a handful of calls per row, so the figures mean nothing and are never compared with a
// threshold. The test only checks that every row still runs and produces a number.
let result: Result

beforeAll(async () => {
  result = await runBench({ config: Config.smoke, gc })
}, 20_000)

const measuredSections = (): ReadonlyArray<Section> =>
  result.sections.filter((section) => section.notMeasured === undefined)

describe("bench smoke run", () => {
  it("produces a finite, positive figure per row", () => {
    const rows = measuredSections().flatMap((section) => section.rows)
    expect(rows.length).toBeGreaterThan(0)
    for (const row of rows) {
      expect(Number.isFinite(row.value), `${row.id} is ${row.value}`).toBe(true)
      // The in-memory store's count of Redis round trips is zero by design; the Redis section checks it.
      if (row.id !== RowIds.memoryStoreRoundTrips) expect(row.value, row.id).toBeGreaterThan(0)
    }
  })

  it("gives every measured section rows", () => {
    for (const section of measuredSections()) {
      expect(section.rows.length, section.title).toBeGreaterThan(0)
    }
  })

  it("names only baselines that were measured", () => {
    const ids = new Set(result.sections.flatMap((section) => section.rows.map((row) => row.id)))
    for (const row of result.sections.flatMap((section) => section.rows)) {
      if (row.baseline !== undefined) expect(ids.has(row.baseline), `${row.id} -> ${row.baseline}`).toBe(true)
    }
  })

  it("keeps row ids unique", () => {
    const ids = result.sections.flatMap((section) => section.rows.map((row) => row.id))
    expect(new Set(ids).size).toBe(ids.length)
  })

  it("measures Redis beside memory store", () => {
    const redis = result.sections.find((section) => section.title === Redis.title)
    expect(redis?.notMeasured).toBeUndefined()
    const byId = new Map(redis?.rows.map((row) => [row.id, row]))
    expect([...byId.keys()].sort()).toEqual(
      [
        RowIds.memoryStoreSequential,
        RowIds.redisStoreSequential,
        RowIds.memoryStoreConcurrent,
        RowIds.redisStoreConcurrent,
        RowIds.memoryStoreRoundTrips,
        RowIds.redisStoreRoundTripsSequential,
        RowIds.redisStoreRoundTripsConcurrent
      ].sort()
    )
    for (const row of byId.values()) expect(Number.isFinite(row.value), `${row.id} is ${row.value}`).toBe(true)
    expect(byId.get(RowIds.redisStoreSequential)?.baseline).toBe(RowIds.memoryStoreSequential)
    expect(byId.get(RowIds.redisStoreConcurrent)?.baseline).toBe(RowIds.memoryStoreConcurrent)
    expect(byId.get(RowIds.memoryStoreRoundTrips)?.value).toBe(0)
    expect(byId.get(RowIds.redisStoreRoundTripsSequential)?.value).toBeGreaterThanOrEqual(1)
    expect(byId.get(RowIds.redisStoreRoundTripsConcurrent)?.value).toBeGreaterThanOrEqual(1)
  })

  it("evaluates every target", () => {
    expect(result.targets.length).toBe(5)
    for (const target of result.targets) {
      expect(target.met, target.target).toBeTypeOf("boolean")
    }
  })

  it("prints every row in the table", () => {
    const table = renderTable(result.sections)
    for (const row of result.sections.flatMap((section) => section.rows)) {
      expect(table).toContain(row.name)
    }
  })
})

describe("bench flags", () => {
  it("parses no flags as a full run", () => {
    expect(parseFlags([])).toEqual({ quick: false, help: false, only: undefined })
  })

  it("parses quick and only", () => {
    expect(parseFlags(["--quick", "--only", "closed,memory"])).toEqual({
      quick: true,
      help: false,
      only: ["closed", "memory"]
    })
    expect(parseFlags(["--only=keyed"])).toEqual({ quick: false, help: false, only: ["keyed"] })
  })

  it("rejects an unknown flag", () => {
    expect(parseFlags(["--fast"])).toBe('Unknown option "--fast"; run pnpm bench --help for the options')
  })

  it("rejects an unknown suite", () => {
    expect(parseFlags(["--only", "closed,speed"])).toContain('Unknown suite "speed"')
  })

  it("rejects only without a value", () => {
    expect(parseFlags(["--only"])).toBe(`--only needs a comma-separated list of: ${suiteNames.join(", ")}`)
  })
})
