/**
 * The Effect steps that a call through the in-memory store cannot do without, with none of the breaker's own work:
 * the floor under the per-call rows. Each builds its effect inside the loop, as the breaker does.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Ref from "effect/Ref"
import * as Tracer from "effect/Tracer"

const counter = Effect.runSync(Ref.make(0))
const step = Ref.modify(counter, (count) => [count, count + 1] as const)

/**
 * A closed, succeeding call: one `Ref.modify` to admit, a span lookup in the fiber's context, the handler pair around
 * the call, and one `Ref.modify` to record its outcome.
 */
export const closedCall = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
  Effect.flatMap(step, () =>
    Effect.withFiberRuntime<A, E>((fiber) => {
      Context.getOption(fiber.currentContext, Tracer.ParentSpan)
      return Effect.matchCauseEffect(effect, {
        onFailure: (cause) => Effect.flatMap(step, () => Exit.failCause(cause)),
        onSuccess: (value) => Effect.flatMap(step, () => Exit.succeed(value))
      })
    })
  )

/** A rejection: one `Ref.modify` to admit, and a span lookup in the fiber's context that ends with the failure. */
export const rejection = <E>(error: E): Effect.Effect<never, E> =>
  Effect.flatMap(step, () =>
    Effect.withFiberRuntime<never, E>((fiber) => {
      Context.getOption(fiber.currentContext, Tracer.ParentSpan)
      return Exit.fail(error)
    })
  )
