import { RedisServer } from "@effect-resilience/loopback"
import { Effect, Exit, Scope } from "effect"
import { Redis } from "ioredis"

/**
 * Starts one `redis-server` for a test file; call it at the top level of the file, then use `current()` inside the
 * tests. Vitest runs the files one at a time, and each file gets its own server on its own port.
 */
export const useRedisServer = (hooks: {
  beforeAll: (fn: () => Promise<void>, timeout?: number) => void
  afterAll: (fn: () => Promise<void>, timeout?: number) => void
}) => {
  let server: RedisServer.Server | undefined
  let scope: Scope.CloseableScope | undefined
  hooks.beforeAll(async () => {
    scope = Effect.runSync(Scope.make())
    server = await Effect.runPromise(Scope.extend(RedisServer.start, scope))
  }, 20_000)
  hooks.afterAll(async () => {
    if (scope !== undefined) await Effect.runPromise(Scope.close(scope, Exit.void))
  }, 20_000)
  return {
    current: (): RedisServer.Server => {
      if (server === undefined) throw new Error("the Redis server has not started")
      return server
    }
  }
}

/** A plain client for a test to look at Redis directly, closed with the scope. */
export const inspector = (url: string) =>
  Effect.acquireRelease(
    Effect.sync(() => new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 1 })),
    (client) => Effect.promise(() => client.quit().catch(() => "closed"))
  )

/** Waits real time, for what happens outside the test's `Clock`: other processes, Redis restarts, reconnects. */
export const realSleep = (millis: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, millis)))

let counter = 0

/** A name no other test of the run uses. */
export const uniqueName = (label: string) => `${label}-${process.pid}-${++counter}`

/**
 * Polls `read` in real time until `done` holds, for effects of I/O that the test's `Clock` does not drive; dies after
 * `limitMillis`.
 */
export const eventually = <A, E, R>(
  read: Effect.Effect<A, E, R>,
  done: (value: A) => boolean,
  limitMillis = 5_000
): Effect.Effect<A, E, R> =>
  Effect.gen(function* () {
    let last: A | undefined
    for (let waited = 0; waited <= limitMillis; waited += 10) {
      last = yield* read
      if (done(last)) return last
      yield* realSleep(10)
    }
    return yield* Effect.dieMessage(`condition not reached within ${limitMillis} ms; last value ${String(last)}`)
  })
