import type { CircuitBreaker } from "@effect-resilience/circuit-breaker"
import { Effect, HashMap, List, Logger, type LogLevel, Ref, Stream } from "effect"

/** A log line captured by {@link captureLogs}. */
export interface CapturedLog {
  readonly level: LogLevel.LogLevel["label"]
  readonly message: string
  readonly annotations: Record<string, unknown>
  readonly cause: string
}

/**
 * Replaces the default logger with one that stores every line, for tests that assert on logging. The breaker's
 * timer fiber captures the logger when the breaker is made, so provide this before making the breaker.
 */
export const captureLogs = Effect.gen(function* () {
  const logs = yield* Ref.make(List.empty<CapturedLog>())
  const logger = Logger.make(({ logLevel, message, annotations, cause }) => {
    const text = Array.isArray(message) ? message.map(String).join(" ") : String(message)
    const entry: CapturedLog = {
      level: logLevel.label,
      message: text,
      annotations: Object.fromEntries(HashMap.toEntries(annotations)),
      cause: cause._tag === "Empty" ? "" : String(cause)
    }
    Effect.runSync(Ref.update(logs, List.prepend(entry)))
  })
  return {
    layer: Logger.replace(Logger.defaultLogger, logger),
    read: Effect.map(Ref.get(logs), (list) => List.toArray(List.reverse(list)))
  }
})

/**
 * Starts collecting transitions and waits until the subscription is in place, so that no transition published
 * after this returns can be missed. `read` returns them so far as `from->to` strings, in order.
 */
export const collectTransitions = (breaker: CircuitBreaker.CircuitBreaker) =>
  Effect.gen(function* () {
    const seen = yield* Ref.make<ReadonlyArray<CircuitBreaker.Transition>>([])
    yield* breaker.transitions.pipe(
      Stream.runForEach((transition) => Ref.update(seen, (all) => [...all, transition])),
      Effect.forkScoped
    )
    yield* settle
    return {
      all: Effect.zipRight(settle, Ref.get(seen)),
      read: Effect.zipRight(
        settle,
        Effect.map(Ref.get(seen), (all) => all.map((transition) => `${transition.from}->${transition.to}`))
      )
    }
  })

/** Lets forked fibers run until they block, without moving the clock. */
export const settle = Effect.repeatN(Effect.yieldNow(), 9)

/** Fails `count` calls through `breaker`, one after another. */
export const failTimes = (breaker: CircuitBreaker.CircuitBreaker, count: number) =>
  Effect.repeatN(Effect.ignore(breaker.protect(Effect.fail("upstream failed"))), count - 1)

/** Returns the `_tag` of the breaker's current state. */
export const stateTag = (breaker: CircuitBreaker.CircuitBreaker) => Effect.map(breaker.state, (state) => state._tag)
