import { spawn } from "node:child_process"
import { Effect } from "effect"

/** The exit code and the whole output of a finished child process. */
export interface Completed {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs `command` with `args` in `cwd` to completion; interrupting the effect kills the process. */
export const spawnCommand = (command: string, args: ReadonlyArray<string>, cwd: string) =>
  Effect.async<Completed>((resume) => {
    const child = spawn(command, args, { cwd, stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk) => {
      stdout += chunk
    })
    child.stderr.on("data", (chunk) => {
      stderr += chunk
    })
    child.on("close", (code) => resume(Effect.succeed({ code, stdout, stderr })))
    return Effect.sync(() => child.kill())
  })
