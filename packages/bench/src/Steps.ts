/**
 * The Effect steps that a call through the in-memory store cannot do without, with none of the breaker's own work:
 * the floor under the per-call rows. Each builds its effect inside the loop, as the breaker does.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Ref from "effect/Ref"
import * as Tracer from "effect/Tracer"

const counter = Effect.runSync(Ref.make(0))
const step = Ref.modify(counter, (count) => [count, count + 1] as const)

/** Looks for a span in the context of the running fiber, as the breaker does, without an Effect step. */
const findSpan = (): void => {
  const fiber = Fiber.getCurrentFiber()
  if (fiber._tag === "Some") Context.getOption(fiber.value.currentContext, Tracer.ParentSpan)
}

/**
 * A closed, succeeding call: one `Ref.modify` to admit, a span lookup, the handler pair around the call, and one
 * `Ref.modify` to record its outcome.
 */
export const closedCall = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
  Effect.flatMap(step, () => {
    findSpan()
    return Effect.matchCauseEffect(effect, {
      onFailure: (cause) => Effect.flatMap(step, () => Exit.failCause(cause)),
      onSuccess: (value) => Effect.flatMap(step, () => Exit.succeed(value))
    })
  })

/** A rejection: one `Ref.modify` to admit, then a span lookup and the failure. */
export const rejection = <E>(error: E): Effect.Effect<never, E> =>
  Effect.flatMap(step, () => {
    findSpan()
    return Exit.fail(error)
  })
