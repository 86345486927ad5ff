/**
 * A `Clock` on which scenario time runs: `timeScale` times faster than the `Clock` it is made from.
 *
 * The workers of a replay and the breaker they share run on this clock, so every duration they read or sleep is in
 * scenario seconds. That covers the breaker's cooldown, the 30-second window of a failure-rate policy, the
 * `Retry-After` seconds the upstream sends and the pause of a worker whose call was rejected. Without it, each of those
 * figures would have to be divided by the time scale. A `Retry-After` header carries whole seconds, so it could not
 * express the fraction of a wall second that a scenario minute takes.
 *
 * @since 0.2.0
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"

/**
 * Makes a clock that reads `origin` at the instant `base` reads `origin`, and from then on advances `timeScale`
 * milliseconds for each millisecond of `base`. A sleep lasts the matching `base` time, rounded to the nearest
 * millisecond because Node's timers drop fractions.
 *
 * @example
 * ```ts
 * import { ScenarioClock } from "@effect-resilience/outage-lab"
 * import { Clock, Effect } from "effect"
 *
 * // One scenario minute passes in 600 wall milliseconds.
 * const program = Effect.gen(function* () {
 *   const wall = yield* Effect.clock
 *   const scenario = ScenarioClock.make(wall, { timeScale: 100, origin: wall.unsafeCurrentTimeMillis() })
 *   yield* Effect.sleep("1 minute").pipe(Effect.withClock(scenario))
 * })
 * ```
 *
 * @since 0.2.0
 * @category constructors
 */
export const make = (
  base: Clock.Clock,
  options: { readonly timeScale: number; readonly origin: number }
): Clock.Clock => {
  const { timeScale, origin } = options
  const unsafeCurrentTimeMillis = (): number =>
    Math.floor(origin + (base.unsafeCurrentTimeMillis() - origin) * timeScale)
  const unsafeCurrentTimeNanos = (): bigint => BigInt(unsafeCurrentTimeMillis()) * 1_000_000n

  return {
    [Clock.ClockTypeId]: Clock.ClockTypeId,
    unsafeCurrentTimeMillis,
    currentTimeMillis: Effect.sync(unsafeCurrentTimeMillis),
    unsafeCurrentTimeNanos,
    currentTimeNanos: Effect.sync(unsafeCurrentTimeNanos),
    sleep: (duration) => {
      const millis = Duration.toMillis(duration)
      return Number.isFinite(millis) ? base.sleep(Duration.millis(Math.round(millis / timeScale))) : Effect.never
    }
  }
}
