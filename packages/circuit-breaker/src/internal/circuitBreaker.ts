import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as FiberHandle from "effect/FiberHandle"
import * as FiberRef from "effect/FiberRef"
import { dual } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { hasProperty } from "effect/Predicate"
import * as PubSub from "effect/PubSub"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import * as ScheduleDecision from "effect/ScheduleDecision"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Api from "../CircuitBreaker.js"
// The public module imports this one, so nothing from it may be read while this module's top level evaluates.
import { CircuitBreakerOpen } from "../CircuitBreaker.js"
import * as Machine from "./machine.js"
import * as Options from "./options.js"

/** @internal */
export const TypeId: typeof Api.TypeId = Symbol.for("@effect-resilience/circuit-breaker/CircuitBreaker") as any

/** @internal */
export const tag = Context.GenericTag<Api.CircuitBreaker>("@effect-resilience/circuit-breaker/CircuitBreaker")

/** @internal */
export const isCircuitBreakerOpen = (u: unknown): u is Api.CircuitBreakerOpen =>
  hasProperty(u, "_tag") && u._tag === "CircuitBreakerOpen"

const toPublicState = (state: Machine.MachineState, now: number): Api.State => {
  switch (state._tag) {
    case "Closed":
      return { _tag: "Closed", consecutiveFailures: state.consecutiveFailures }
    case "Open":
      return { _tag: "Open", remainingCooldown: Duration.millis(Math.max(0, state.openUntil - now)) }
    case "HalfOpen":
      return { _tag: "HalfOpen", trialSuccesses: state.trialSuccesses, trialRunning: state.trialRunning }
  }
}

const describeTransition = (transition: Machine.MachineTransition, options: Options.ResolvedOptions): string => {
  const cooldown = Duration.format(options.cooldown)
  switch (`${transition.from}->${transition.to}`) {
    case "Closed->Open":
      return `Circuit breaker opened after ${options.failureThreshold} consecutive failures; rejecting calls for ${cooldown}`
    case "HalfOpen->Open":
      return `Circuit breaker reopened because a trial call failed; rejecting calls for ${cooldown}`
    case "Open->HalfOpen":
      return "Circuit breaker cooldown ended; admitting one trial call at a time"
    default:
      return `Circuit breaker closed after ${options.successThreshold} successful trial calls`
  }
}

/** @internal */
export const make = (options: Api.Options): Effect.Effect<Api.CircuitBreaker, never, Scope.Scope> =>
  Effect.suspend(() => {
    const resolved = Options.resolve(options)
    if (Either.isLeft(resolved)) {
      return Effect.die(new Cause.IllegalArgumentException(resolved.left))
    }
    return makeResolved(resolved.right)
  })

const makeResolved = (options: Options.ResolvedOptions): Effect.Effect<Api.CircuitBreaker, never, Scope.Scope> =>
  Effect.gen(function* () {
    const clock = yield* Effect.clock
    const ref = yield* Ref.make<Machine.MachineState>(Machine.initial)
    const pubsub = yield* Effect.acquireRelease(PubSub.unbounded<Api.Transition>(), PubSub.shutdown)
    // One handle means at most one cooldown timer per breaker; closing the scope interrupts it.
    const runTimer = yield* FiberHandle.makeRuntime<never, never, void>()
    const name = options.name
    const isFailure = options.isFailure

    const logTransition = (transition: Machine.MachineTransition): Effect.Effect<void> => {
      const message = describeTransition(transition, options)
      const log = transition.to === "Open" ? Effect.logWarning(message) : Effect.logInfo(message)
      return Effect.annotateLogs(log, { circuitBreaker: name, from: transition.from, to: transition.to })
    }

    // Every state change goes through one `Ref.modify`. The transition is published inside it, so subscribers see
    // transitions in the order the state changed, each exactly once.
    const apply = <A>(
      f: (state: Machine.MachineState, now: number) => Machine.Step<A>
    ): Effect.Effect<Machine.Step<A>> =>
      Ref.modify(ref, (current) => {
        const result = f(current, clock.unsafeCurrentTimeMillis())
        if (result.transition !== undefined) {
          const { from, to, at } = result.transition
          pubsub.unsafeOffer({ name, from, to, at })
        }
        return [result, result.state]
      })

    const cooldownTimer = (opened: Machine.Open): Effect.Effect<void> =>
      Effect.suspend(() =>
        Effect.sleep(Duration.millis(Math.max(0, opened.openUntil - clock.unsafeCurrentTimeMillis())))
      ).pipe(
        Effect.zipRight(apply((state, now) => Machine.cooldownElapsed(state, opened.generation, now))),
        Effect.flatMap(afterTransition)
      )

    const afterTransition = <A>(step: Machine.Step<A>): Effect.Effect<void> => {
      const transition = step.transition
      if (transition === undefined) {
        return Effect.void
      }

      const log = logTransition(transition)
      if (step.state._tag !== "Open") {
        return log
      }

      const opened = step.state
      return Effect.zipRight(
        log,
        Effect.sync(() => {
          runTimer(cooldownTimer(opened))
        })
      )
    }

    const admit: Effect.Effect<Machine.Step<Machine.Admission>> = apply(Machine.admit)

    const classify = (exit: Exit.Exit<unknown, unknown>): Effect.Effect<Machine.Outcome> => {
      if (Exit.isSuccess(exit)) {
        return Effect.succeed("Success")
      }

      const cause = exit.cause
      if (Cause.isDie(cause)) {
        return Effect.succeed("Failure")
      }

      const failure = Cause.failureOption(cause)
      if (Option.isNone(failure)) {
        return Effect.succeed("Ignored")
      }
      if (isFailure === undefined) {
        return Effect.succeed("Failure")
      }

      try {
        return Effect.succeed(isFailure(failure.value) ? "Failure" : "Ignored")
      } catch (thrown) {
        return FiberRef.get(FiberRef.unhandledErrorLogLevel).pipe(
          Effect.flatMap((level) =>
            Option.isSome(level)
              ? Effect.logWithLevel(
                  level.value,
                  "Circuit breaker isFailure threw; counting the call as a failure",
                  Cause.die(thrown)
                ).pipe(Effect.annotateLogs({ circuitBreaker: name }))
              : Effect.void
          ),
          Effect.as("Failure" as const)
        )
      }
    }

    const record = (generation: number, exit: Exit.Exit<unknown, unknown>): Effect.Effect<void> =>
      classify(exit).pipe(
        Effect.flatMap((outcome) => apply((state, now) => Machine.record(state, generation, outcome, now, options))),
        Effect.flatMap(afterTransition)
      )

    const reject = (
      admission: Extract<Machine.Admission, { admitted: false }>
    ): Effect.Effect<never, Api.CircuitBreakerOpen> =>
      Effect.fail(
        new CircuitBreakerOpen({
          name,
          state: admission.state,
          retryAfter: Duration.millis(admission.retryAfterMillis)
        })
      )

    // The mask covers admission, so an interruption can never land between taking a trial slot and installing the
    // finalizer that gives it back. Only the user's effect runs interruptibly.
    const protect = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | Api.CircuitBreakerOpen, R> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(admit, (step): Effect.Effect<A, E | Api.CircuitBreakerOpen, R> => {
          const admission = step.result
          if (!admission.admitted) {
            return reject(admission)
          }

          const run = Effect.onExit(restore(effect), (exit) => record(admission.generation, exit))
          return step.transition === undefined ? run : Effect.zipRight(afterTransition(step), run)
        })
      )

    const state: Effect.Effect<Api.State> = Effect.flatMap(apply(Machine.observe), (step) => {
      const current = toPublicState(step.state, clock.unsafeCurrentTimeMillis())
      return Effect.as(afterTransition(step), current)
    })

    const breaker: Api.CircuitBreaker = {
      [TypeId]: TypeId,
      name,
      protect,
      state,
      transitions: Stream.fromPubSub(pubsub)
    }
    return breaker
  })

/** @internal */
export const layer = (options: Api.Options): Layer.Layer<Api.CircuitBreaker> => Layer.scoped(tag, make(options))

/** @internal */
export const layerConfig = (
  config: Config.Config.Wrap<Api.Options>
): Layer.Layer<Api.CircuitBreaker, ConfigError.ConfigError> =>
  Layer.scoped(
    tag,
    Effect.flatMap(Config.unwrap(config), (options) => {
      const resolved = Options.resolve(options)
      return Either.isLeft(resolved)
        ? Effect.fail(ConfigError.InvalidData([], resolved.left))
        : makeResolved(resolved.right)
    })
  )

/** @internal */
export const protect = <A, E, R>(
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E | Api.CircuitBreakerOpen, R | Api.CircuitBreaker> =>
  Effect.flatMap(tag, (breaker) => breaker.protect(effect))

/** @internal */
export const state: Effect.Effect<Api.State, never, Api.CircuitBreaker> = Effect.flatMap(
  tag,
  (breaker) => breaker.state
)

/** @internal */
export const transitions: Stream.Stream<Api.Transition, never, Api.CircuitBreaker> = Stream.unwrap(
  Effect.map(tag, (breaker) => breaker.transitions)
)

/** @internal */
export const untilOpen = <Out, In, R>(
  schedule: Schedule.Schedule<Out, In, R>
): Schedule.Schedule<Out | undefined, In | Api.CircuitBreakerOpen, R> =>
  Schedule.makeWithState<readonly [unknown, Out | undefined], In | Api.CircuitBreakerOpen, Out | undefined, R>(
    [schedule.initial, undefined],
    (now, input, [inner, last]) => {
      // A rejection stops the retry before the wrapped schedule runs, so no sleep follows it and the wrapped schedule's
      // own input checks never see an error type they were not written for.
      if (isCircuitBreakerOpen(input)) {
        return Effect.succeed([[inner, last], last, ScheduleDecision.done] as const)
      }

      return Effect.map(
        schedule.step(now, input as In, inner),
        ([next, out, decision]) => [[next, out], out, decision] as const
      )
    }
  )

/** @internal */
export const retry: {
  <Out, E, R2>(
    schedule: Schedule.Schedule<Out, NoInfer<E>, R2>
  ): <A, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | Api.CircuitBreakerOpen, R | R2 | Api.CircuitBreaker>
  <A, E, R, Out, R2>(
    effect: Effect.Effect<A, E, R>,
    schedule: Schedule.Schedule<Out, NoInfer<E>, R2>
  ): Effect.Effect<A, E | Api.CircuitBreakerOpen, R | R2 | Api.CircuitBreaker>
} = dual(
  2,
  <A, E, R, Out, R2>(
    effect: Effect.Effect<A, E, R>,
    schedule: Schedule.Schedule<Out, E, R2>
  ): Effect.Effect<A, E | Api.CircuitBreakerOpen, R | R2 | Api.CircuitBreaker> =>
    Effect.retry(protect(effect), untilOpen(schedule))
)
