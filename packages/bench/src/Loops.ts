/**
 * The inner loops every timed row runs: N calls one after another inside one Effect 3 fiber, one Effect 4 fiber, or
 * one async function. Each call's effect is built inside the loop, the way a caller builds `breaker.protect(effect)`.
 */
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Runtime from "effect/Runtime"
import * as Effect4 from "effect4/Effect"

/**
 * The Effect 3 runtime every measurement runs in, with logging off (minimum level None). The breaker logs every
 * transition, and the HalfOpen rows cause two per sample. It still builds each transition's message.
 */
export const runtime: Runtime.Runtime<never> = Effect.runSync(
  Effect.runtime<never>().pipe(Logger.withMinimumLogLevel(LogLevel.None))
)

export const runPromise = Runtime.runPromise(runtime)

/** Runs `call(index)` for every index below `calls`, one after another in the current fiber. */
export const repeat = <E>(calls: number, call: (index: number) => Effect.Effect<unknown, E>): Effect.Effect<void, E> =>
  Effect.suspend(() => {
    let index = 0
    return Effect.whileLoop({
      while: () => index < calls,
      body: () => call(index),
      step: () => {
        index++
      }
    })
  })

/** The same loop in Effect 4. */
export const repeat4 = <E>(
  calls: number,
  call: (index: number) => Effect4.Effect<unknown, E>
): Effect4.Effect<void, E> =>
  Effect4.suspend(() => {
    let index = 0
    return Effect4.whileLoop({
      while: () => index < calls,
      body: () => call(index),
      step: () => {
        index++
      }
    })
  })

/** Awaits `call(index)` for every index below `calls`, one after another. */
export const repeatAsync = async (calls: number, call: (index: number) => PromiseLike<unknown>): Promise<void> => {
  for (let index = 0; index < calls; index++) {
    await call(index)
  }
}

/** Awaits `call(index)` for every index below `calls`, one after another, and discards each rejection. */
export const repeatAsyncRejected = async (
  calls: number,
  call: (index: number) => PromiseLike<unknown>
): Promise<void> => {
  for (let index = 0; index < calls; index++) {
    try {
      await call(index)
    } catch {
      // Every call is expected to reject; the loop measures how fast it does.
    }
  }
}

/** A reusable error for the calls that must fail, built once so that no row pays for a stack trace of its own. */
export class BenchError extends Error {
  readonly _tag = "BenchError"
}

export const benchError = new BenchError("expected failure")

/** An already resolved Promise: the asynchronous work of every row that calls through a Promise. */
export const resolvedWork = (): Promise<number> => Promise.resolve(1)

/** An already rejected Promise, for the calls that must fail. */
export const rejectedWork = (): Promise<number> => Promise.reject(benchError)
