import { describe, expect, it } from "@effect/vitest"
import { SeededRandom } from "../src/index.js"

const draw = (seed: number, count: number) => {
  const random = SeededRandom.make(seed)
  return Array.from({ length: count }, () => random.nextFloat())
}

describe("SeededRandom", () => {
  it("same seed repeats the sequence", () => {
    expect(draw(1234, 1000)).toEqual(draw(1234, 1000))
  })

  it("different seeds differ", () => {
    expect(draw(1234, 20)).not.toEqual(draw(1235, 20))
  })

  it("floats stay in [0, 1)", () => {
    const values = draw(99, 10_000)
    expect(values.every((value) => value >= 0 && value < 1)).toBe(true)
  })

  it("floats are roughly uniform", () => {
    const values = draw(7, 20_000)
    const mean = values.reduce((sum, value) => sum + value, 0) / values.length
    const belowTenth = values.filter((value) => value < 0.1).length / values.length
    expect(mean).toBeGreaterThan(0.49)
    expect(mean).toBeLessThan(0.51)
    expect(belowTenth).toBeGreaterThan(0.09)
    expect(belowTenth).toBeLessThan(0.11)
  })

  it("integers cover the range inclusively", () => {
    const random = SeededRandom.make(5)
    const seen = new Set(Array.from({ length: 1000 }, () => random.nextIntBetween(3, 6)))
    expect([...seen].sort()).toEqual([3, 4, 5, 6])
  })

  it("seed zero still varies", () => {
    const values = draw(0, 5)
    expect(new Set(values).size).toBe(5)
  })
})
