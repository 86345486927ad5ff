/**
 * Checks the flags of `pnpm bench` before anything is compiled, so that `--help` and a mistyped flag get their output
 * at once rather than after three `tsc` builds. Exits 0 when the bench should run, 2 after printing what is wrong with
 * the flags, and `helpShown` after printing the help.
 */
import { parseFlags, usage } from "./Cli.js"

/** The exit code after printing the help: the launcher ends there, with success. */
export const helpShown = 3

const flags = parseFlags(process.argv.slice(2))
if (typeof flags === "string") {
  process.stderr.write(`bench: ${flags}\n`)
  process.exitCode = 2
} else if (flags.help) {
  process.stdout.write(`${usage}\n`)
  process.exitCode = helpShown
}
