/**
 * The facts a run's figures depend on besides the code: the machine, Node, the versions of the libraries compared, and the
 * revision of the breaker's source.
 */
import { execFileSync } from "node:child_process"
import { readFileSync } from "node:fs"
import * as os from "node:os"
import { fileURLToPath } from "node:url"

const packageDir = fileURLToPath(new URL("..", import.meta.url))
const repositoryDir = fileURLToPath(new URL("../../..", import.meta.url))

export interface Environment {
  readonly cores: number
  readonly cpuModel: string
  readonly nodeVersion: string
  /** Installed version of each compared package, by the name the bench imports it under. */
  readonly versions: ReadonlyArray<readonly [name: string, version: string]>
  readonly breakerRevision: string
  /** The file the breaker's public module loads from: compiled JavaScript in dist/, or TypeScript compiled on load. */
  readonly breakerCode: string
}

const cpuModel = (): string => {
  try {
    const line = readFileSync("/proc/cpuinfo", "utf8")
      .split("\n")
      .find((text) => text.startsWith("model name"))
    const model = line?.split(":")[1]?.trim()
    if (model !== undefined && model !== "") return model
  } catch {
    // Not Linux: fall back to what Node reports.
  }
  return os.cpus()[0]?.model ?? "unknown"
}

const installedVersion = (name: string): string => {
  try {
    const manifest = JSON.parse(readFileSync(`${packageDir}node_modules/${name}/package.json`, "utf8"))
    return typeof manifest.version === "string" ? manifest.version : "unknown"
  } catch {
    return "not installed"
  }
}

const git = (...args: ReadonlyArray<string>): string =>
  execFileSync("git", ["-C", repositoryDir, ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim()

/** Names the commit of the breaker's source and whether the working tree differs from it. */
const breakerRevision = (): string => {
  try {
    const commit = git("rev-parse", "--short", "HEAD")
    const changed = git("status", "--porcelain", "--", "packages/circuit-breaker/src") !== ""
    return changed ? `commit ${commit} with uncommitted changes in packages/circuit-breaker/src` : `commit ${commit}`
  } catch {
    return "unknown (git is unavailable)"
  }
}

/**
 * Says which code of the breaker runs. `pnpm bench` compiles it with tsc first and loads it from dist/, as a user of
 * the published package would. Loaded from src/, tsx compiles it on the fly and wraps every named closure in a call
 * that sets the function's name, which costs several hundred nanoseconds per protected call.
 */
const breakerCode = (): string => {
  const url = import.meta.resolve("@effect-resilience/circuit-breaker/CircuitBreaker")
  const path = fileURLToPath(url).slice(repositoryDir.length)
  return path.endsWith(".js")
    ? `${path}, compiled by tsc`
    : `${path}, compiled on load by tsx; run through pnpm bench to measure the compiled code`
}

export const read = (): Environment => ({
  cores: os.availableParallelism(),
  cpuModel: cpuModel(),
  nodeVersion: process.version,
  versions: ["effect", "effect4", "cockatiel", "opossum", "tinybench", "ioredis"].map((name) => [
    name,
    installedVersion(name)
  ]),
  breakerRevision: breakerRevision(),
  breakerCode: breakerCode()
})

export const render = (environment: Environment): string =>
  [
    `Machine: ${environment.cores} cores, ${environment.cpuModel}, Node ${environment.nodeVersion}`,
    `Packages: ${environment.versions.map(([name, version]) => `${name} ${version}`).join(", ")}`,
    `Breaker source: ${environment.breakerRevision}`,
    `Breaker code: ${environment.breakerCode}`
  ].join("\n")
