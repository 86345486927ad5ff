import { spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "@effect/vitest"

const packageDir = fileURLToPath(new URL("..", import.meta.url))

// Runs the launcher that `pnpm bench` starts, as a separate process. Only flags that stop before any compiling.
const launch = (...args: ReadonlyArray<string>) =>
  spawnSync(process.execPath, ["run.mjs", ...args], { cwd: packageDir, encoding: "utf8", timeout: 30_000 })

describe("bench launcher", () => {
  it("bad flag exits 2", () => {
    const result = launch("--only", "nosuch")

    expect(result.status).toBe(2)
    expect(result.stdout).toBe("")
    expect(result.stderr).toBe(
      'bench: Unknown suite "nosuch" in --only; expected one of: closed, rejection, keyed, parts, memory, redis\n'
    )
  })

  it("help exits 0", () => {
    const result = launch("--help")

    expect(result.status).toBe(0)
    expect(result.stdout).toMatch(/^Usage: pnpm bench/)
    expect(result.stderr).toBe("")
  })
})
