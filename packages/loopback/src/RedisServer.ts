/**
 * A throwaway `redis-server` on a free port of 127.0.0.1, for tests that need a real Redis without leaving the machine.
 * It keeps nothing on disk (`--save ""`, `--appendonly no`), and it can be stopped and started again on the same port
 * to test what a client does while Redis is away.
 *
 * @since 0.1.0
 */
import { type ChildProcess, spawn } from "node:child_process"
import { connect, createServer } from "node:net"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"

/**
 * A running test Redis.
 *
 * @example
 * ```ts
 * import { RedisServer } from "@effect-resilience/loopback"
 * import { Effect } from "effect"
 *
 * const program = Effect.scoped(
 *   Effect.gen(function* () {
 *     const server = yield* RedisServer.start
 *     yield* server.stop
 *     yield* server.restart
 *     return server.url
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Server {
  /** `redis://127.0.0.1:PORT`. */
  readonly url: string
  readonly port: number
  /** Stops the server and waits until its process has exited; the port stays reserved for {@link Server.restart}. */
  readonly stop: Effect.Effect<void>
  /** Starts a new, empty server on the same port and waits until it responds to `PING`. */
  readonly restart: Effect.Effect<void>
  /** Freezes the server with `SIGSTOP`: it keeps its connections open but responds to nothing until {@link Server.resume}. */
  readonly pause: Effect.Effect<void>
  /** Lets a paused server run again with `SIGCONT`. */
  readonly resume: Effect.Effect<void>
  /** Whether a server process is running now. */
  readonly running: Effect.Effect<boolean>
}

/** How long a new server may take to respond to its first `PING`, in milliseconds. */
const startupLimitMillis = 10_000

const realSleep = (millis: number) =>
  Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, millis).unref()))

/** Asks the kernel for a free port on 127.0.0.1 by listening on port 0 and closing again. */
const freePort: Effect.Effect<number> = Effect.async<number>((resume) => {
  const probe = createServer()
  probe.unref()
  probe.listen(0, "127.0.0.1", () => {
    const address = probe.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    probe.close(() => resume(Effect.succeed(port)))
  })
})

/** Sends one inline `PING` and resolves to whether `+PONG` came back before the socket closed. */
const ping = (port: number): Effect.Effect<boolean> =>
  Effect.async<boolean>((resume) => {
    const socket = connect({ port, host: "127.0.0.1" })
    let answered = false
    const finish = (ok: boolean) => {
      if (answered) return
      answered = true
      socket.destroy()
      resume(Effect.succeed(ok))
    }
    socket.setTimeout(500, () => finish(false))
    socket.on("connect", () => socket.write("PING\r\n"))
    socket.on("data", (data) => finish(data.toString("utf8").startsWith("+PONG")))
    socket.on("error", () => finish(false))
    socket.on("close", () => finish(false))
  })

const waitUntilAnswers = (port: number, child: ChildProcess): Effect.Effect<void> =>
  Effect.gen(function* () {
    for (let waited = 0; waited < startupLimitMillis; waited += 20) {
      if (child.exitCode !== null) {
        return yield* Effect.dieMessage(`redis-server on port ${port} exited with code ${child.exitCode}`)
      }
      if (yield* ping(port)) return
      yield* realSleep(20)
    }
    return yield* Effect.dieMessage(`redis-server on port ${port} did not answer PING within ${startupLimitMillis} ms`)
  })

const spawnServer = (port: number): ChildProcess =>
  spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
    stdio: "ignore"
  })

const waitForExit = (child: ChildProcess): Effect.Effect<void> =>
  Effect.async<void>((resume) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resume(Effect.void)
      return
    }
    child.once("exit", () => resume(Effect.void))
  })

/**
 * Starts `redis-server` (from `PATH`) on a free port of 127.0.0.1 and waits until it responds to `PING`. Closing the
 * scope stops it.
 *
 * @example
 * ```ts
 * import { RedisServer } from "@effect-resilience/loopback"
 * import { Effect } from "effect"
 *
 * const url = Effect.scoped(Effect.map(RedisServer.start, (server) => server.url))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const start: Effect.Effect<Server, never, Scope.Scope> = Effect.gen(function* () {
  const port = yield* freePort
  let child: ChildProcess | undefined

  const launch = Effect.suspend(() => {
    const started = spawnServer(port)
    child = started
    return waitUntilAnswers(port, started)
  })

  const stop = Effect.suspend(() => {
    const running = child
    child = undefined
    if (running === undefined) return Effect.void
    running.kill("SIGCONT")
    running.kill("SIGTERM")
    return waitForExit(running)
  })

  yield* Effect.acquireRelease(launch, () => stop)

  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop,
    restart: Effect.zipRight(stop, launch),
    pause: Effect.sync(() => {
      child?.kill("SIGSTOP")
    }),
    resume: Effect.sync(() => {
      child?.kill("SIGCONT")
    }),
    running: Effect.sync(() => child !== undefined && child.exitCode === null)
  }
})
