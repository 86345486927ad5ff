// Starts `pnpm bench`: checks the flags, compiles the breaker, the Redis store and the bench with tsc, then runs the
// compiled bench with the breaker loaded from dist/. Each step's exit code ends the run when it is not 0.
import { spawnSync } from "node:child_process"

const args = process.argv.slice(2)
// The exit code of src/checkFlags.ts after it printed the help.
const helpShown = 3

const run = (command, commandArgs) => {
  const result = spawnSync(command, commandArgs, { stdio: "inherit" })
  if (result.error !== undefined) {
    process.stderr.write(`bench: could not start ${command}: ${result.error.message}\n`)
    return 1
  }
  return result.status ?? 1
}

const checked = run(process.execPath, ["--import", "tsx", "src/checkFlags.ts", ...args])
if (checked !== 0) process.exit(checked === helpShown ? 0 : checked)

for (const project of [
  "../circuit-breaker/tsconfig.build.json",
  "../redis/tsconfig.build.json",
  "tsconfig.build.json"
]) {
  const built = run("tsc", ["-p", project])
  if (built !== 0) process.exit(built)
}

process.exit(
  run(process.execPath, [
    "--expose-gc",
    "--conditions=effect-resilience-dist",
    "--import",
    "tsx",
    "dist/bin.js",
    ...args
  ])
)
