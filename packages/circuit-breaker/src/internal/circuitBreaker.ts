import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { dual } from "effect/Function"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import { hasProperty } from "effect/Predicate"
import * as PubSub from "effect/PubSub"
import * as Schedule from "effect/Schedule"
import * as ScheduleDecision from "effect/ScheduleDecision"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Api from "../CircuitBreaker.js"
import * as Store from "../Store.js"
import * as Circuit from "./circuit.js"
import * as Machine from "./machine.js"
import * as MemoryStore from "./memoryStore.js"
import * as Options from "./options.js"
import * as Registry from "./registry.js"
import * as Scheduler from "./scheduler.js"
import * as Telemetry from "./telemetry.js"

/** @internal */
export const TypeId: typeof Api.TypeId = Symbol.for("@effect-resilience/circuit-breaker/CircuitBreaker") as any

/** @internal */
export const tag = Context.GenericTag<Api.CircuitBreaker>("@effect-resilience/circuit-breaker/CircuitBreaker")

/** @internal */
export const isCircuitBreakerOpen = (u: unknown): u is Api.CircuitBreakerOpen =>
  hasProperty(u, "_tag") && u._tag === "CircuitBreakerOpen"

/**
 * Makes the parts every breaker shares, with the transitions hub and the cooldown scheduler in the current scope.
 * `circuitOf` gives the scheduler the circuit whose cooldown ended.
 *
 * @internal
 */
export const makeShared = (
  options: Options.ResolvedOptions,
  policy: Machine.Policy,
  circuitOf: (key: string) => Circuit.Circuit,
  telemetry: { readonly keyed: boolean; readonly byKey: boolean },
  limits: Store.MemoryLimits | undefined,
  classify: Circuit.Classifier = Circuit.defaultClassifier(options)
): Effect.Effect<Circuit.Shared, never, Scope.Scope> =>
  Effect.gen(function* () {
    const clock = yield* Effect.clock
    const pubsub = yield* Effect.acquireRelease(PubSub.unbounded<Api.Transition>(), PubSub.shutdown)
    // The callback runs only when a deadline is due, after `shared` below is initialised.
    const scheduler = yield* Scheduler.make(clock, (key, generation) =>
      Circuit.cooldownElapsed(shared, circuitOf(key), generation)
    )
    const metrics = Telemetry.make(options.name, { ...telemetry, initial: policy.initial._tag })
    Telemetry.initialState(metrics, telemetry.keyed ? undefined : policy.initial._tag)

    const factory = Option.getOrElse(yield* Effect.serviceOption(Store.CircuitStoreFactory), () => Store.memory)
    const store = yield* factory.make({
      name: options.name,
      policy,
      keyed: telemetry.keyed,
      clock,
      limits,
      onDrop: (state) => Telemetry.recordDrop(metrics, state._tag)
    })

    const shared: Circuit.Shared = {
      options,
      policy,
      classify,
      clock,
      pubsub,
      scheduler,
      telemetry: metrics,
      store,
      admitWithoutSlot: MemoryStore.admitWithoutSlotOf(store),
      successMayTransition: policy.trips.some((trip) => trip._tag !== "ConsecutiveFailures"),
      timesCalls: options.durationMetric || policy.trips.some((trip) => trip._tag === "SlowCallRate"),
      lastRejection: undefined
    }
    return shared
  })

/**
 * Converts one circuit's state into a health entry, with durations in milliseconds so that it serialises to JSON.
 *
 * @internal
 */
export const healthEntry = (
  shared: Circuit.Shared,
  key: string | undefined,
  state: Machine.MachineState,
  now: number
): Api.HealthEntry => {
  const base = key === undefined ? { name: shared.options.name } : { name: shared.options.name, key }
  const visible = state._tag === "Open" ? Machine.observe(state, now).state : state
  const view = Circuit.toPublicState(visible, now, shared.policy)
  switch (view._tag) {
    case "Closed":
      return view.windows === undefined
        ? { ...base, state: "Closed", consecutiveFailures: view.consecutiveFailures }
        : { ...base, state: "Closed", consecutiveFailures: view.consecutiveFailures, windows: view.windows }
    case "Open":
      return { ...base, state: "Open", remainingCooldownMillis: Duration.toMillis(view.remainingCooldown) }
    case "HalfOpen":
      return { ...base, state: "HalfOpen", trialSuccesses: view.trialSuccesses, trialRunning: view.trialRunning }
    case "Isolated":
    case "Disabled":
      return { ...base, state: view._tag }
  }
}

/**
 * Turns a validation message into a defect, as constructors whose error type is `never` must.
 *
 * @internal
 */
export const resolveOrDie = <A>(
  resolved: Either.Either<A, string>,
  f: (options: A) => Effect.Effect<any, never, Scope.Scope>
) => (Either.isLeft(resolved) ? Effect.die(new Cause.IllegalArgumentException(resolved.left)) : f(resolved.right))

const makeResolved = (options: Options.ResolvedOptions): Effect.Effect<Api.CircuitBreaker, never, Scope.Scope> =>
  Effect.gen(function* () {
    const policy = yield* Options.buildPolicy(options)
    const circuit = Circuit.single
    const shared = yield* makeShared(options, policy, () => circuit, { keyed: false, byKey: false }, undefined)

    yield* Registry.register({
      name: options.name,
      snapshot: Effect.map(shared.store.snapshot, (circuits) =>
        circuits.map(([, state]) => healthEntry(shared, undefined, state, shared.clock.unsafeCurrentTimeMillis()))
      )
    })

    const breaker: Api.CircuitBreaker = {
      [TypeId]: TypeId,
      name: options.name,
      protect: (effect) => Circuit.protect(shared, circuit, effect),
      state: Circuit.state(shared, circuit),
      transitions: Stream.fromPubSub(shared.pubsub),
      isolate: Circuit.command(shared, circuit, "Isolate"),
      reset: Circuit.command(shared, circuit, "Reset"),
      disable: Circuit.command(shared, circuit, "Disable")
    }
    return breaker
  })

/** @internal */
export const make = (options: Api.Options): Effect.Effect<Api.CircuitBreaker, never, Scope.Scope> =>
  Effect.suspend(() => resolveOrDie(Options.resolve(options), makeResolved))

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
        ? Effect.fail(ConfigError.InvalidData([Options.optionNameOf(resolved.left)], resolved.left))
        : makeResolved(resolved.right)
    })
  )

/** @internal */
export const protect = <A, E, R>(
  effect: Effect.Effect<A, E, R>
): Effect.Effect<A, E | Api.CircuitBreakerError, R | Api.CircuitBreaker> =>
  Effect.flatMap(tag, (breaker) => breaker.protect(effect))

/** @internal */
export const state: Effect.Effect<Api.State, never, Api.CircuitBreaker> = Effect.flatMap(
  tag,
  (breaker) => breaker.state
)

/** @internal */
export const isolate: Effect.Effect<void, never, Api.CircuitBreaker> = Effect.flatMap(tag, (breaker) => breaker.isolate)

/** @internal */
export const reset: Effect.Effect<void, never, Api.CircuitBreaker> = Effect.flatMap(tag, (breaker) => breaker.reset)

/** @internal */
export const disable: Effect.Effect<void, never, Api.CircuitBreaker> = Effect.flatMap(tag, (breaker) => breaker.disable)

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
    schedule: Schedule.Schedule<Out, NoInfer<E> | Api.CircuitBreakerTimeout, R2>
  ): <A, R>(
    effect: Effect.Effect<A, E, R>
  ) => Effect.Effect<A, E | Api.CircuitBreakerError, R | R2 | Api.CircuitBreaker>
  <A, E, R, Out, R2>(
    effect: Effect.Effect<A, E, R>,
    schedule: Schedule.Schedule<Out, NoInfer<E> | Api.CircuitBreakerTimeout, R2>
  ): Effect.Effect<A, E | Api.CircuitBreakerError, R | R2 | Api.CircuitBreaker>
} = dual(
  2,
  <A, E, R, Out, R2>(
    effect: Effect.Effect<A, E, R>,
    schedule: Schedule.Schedule<Out, E | Api.CircuitBreakerTimeout, R2>
  ): Effect.Effect<A, E | Api.CircuitBreakerError, R | R2 | Api.CircuitBreaker> =>
    Effect.retry(protect(effect), untilOpen(schedule))
)
