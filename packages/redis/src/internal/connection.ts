import { createHash } from "node:crypto"
import * as Effect from "effect/Effect"
import type { Command as CommandClass, Redis } from "ioredis"
import { source } from "./script.js"

/**
 * The commands the store sends, each bounded by the command timeout, so that no call waits longer on a Redis that
 * does not reply.
 *
 * @internal
 */
export interface Connection {
  /** Runs the circuit script on `key`: `EVALSHA`, and when Redis has not cached the script, `SCRIPT LOAD` first. */
  readonly run: (key: string, args: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<string>, Error>
  /** Every key matching `pattern`, by `SCAN`. */
  readonly scan: (pattern: string) => Effect.Effect<ReadonlyArray<string>, Error>
  readonly ping: Effect.Effect<void, Error>
  /** Whether the client has a connection that is ready for commands. */
  readonly isReady: () => boolean
}

/** @internal */
export const sha = createHash("sha1").update(source).digest("hex")

const isNoScript = (error: unknown): boolean => error instanceof Error && error.message.startsWith("NOSCRIPT")

const asError = (error: unknown): Error => (error instanceof Error ? error : new Error(String(error)))

/**
 * Sends commands as ioredis `Command` objects with their own timeout, so the bound holds for a client the user passed
 * in as well, whatever its `commandTimeout`.
 *
 * @internal
 */
export const make = (client: Redis, Command: typeof CommandClass, timeoutMillis: number): Connection => {
  const send = (name: string, args: ReadonlyArray<string>): Effect.Effect<unknown, Error> =>
    Effect.async<unknown, Error>((resume) => {
      const command = new Command(name, args as Array<string>, { replyEncoding: "utf8" })
      command.setTimeout(timeoutMillis)
      client.sendCommand(command)
      command.promise.then(
        (value) => resume(Effect.succeed(value)),
        (error) => resume(Effect.fail(asError(error)))
      )
    })

  const run = (key: string, args: ReadonlyArray<string>): Effect.Effect<ReadonlyArray<string>, Error> => {
    const evalsha = send("evalsha", [sha, "1", key, ...args]) as Effect.Effect<ReadonlyArray<string>, Error>
    return Effect.catchIf(evalsha, isNoScript, () => Effect.zipRight(send("script", ["load", source]), evalsha))
  }

  const scan = (pattern: string): Effect.Effect<ReadonlyArray<string>, Error> =>
    Effect.suspend(() => {
      const found = new Set<string>()
      const loop = (cursor: string): Effect.Effect<ReadonlyArray<string>, Error> =>
        Effect.flatMap(send("scan", [cursor, "MATCH", pattern, "COUNT", "500"]), (reply) => {
          const [next, keys] = reply as [string, Array<string>]
          for (const key of keys) found.add(key)
          return next === "0" ? Effect.succeed(Array.from(found)) : loop(next)
        })
      return loop("0")
    })

  return {
    run,
    scan,
    ping: Effect.asVoid(send("ping", [])),
    isReady: () => client.status === "ready"
  }
}
