import { Store } from "@effect-resilience/circuit-breaker"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as FiberSet from "effect/FiberSet"
import * as Metric from "effect/Metric"
import * as Scope from "effect/Scope"
import type { Redis } from "ioredis"
import * as Codec from "./codec.js"
import * as Connection from "./connection.js"
import type { Resolved } from "./options.js"
import { defaults } from "./options.js"

/**
 * Counts the times the store found Redis unreachable: one per outage, however many calls it affected.
 *
 * @internal
 */
export const outages = Metric.counter("effect_resilience_redis_outages", {
  description: "Times a Redis circuit store found Redis unreachable and switched to its fallback",
  incremental: true
})

/**
 * The key of one circuit: the prefix, the breaker's name with `%` and `:` escaped, and the circuit's key as it is (the
 * empty string for a single breaker).
 *
 * @internal
 */
export const keyOf = (prefix: string, name: string, key: string): string =>
  `${prefix}:${name.replace(/%/g, "%25").replace(/:/g, "%3A")}:${key}`

const globEscape = (text: string): string => text.replace(/[*?[\]\\]/g, "\\$&")

/**
 * Whether Redis replies, shared by every breaker of one layer, so an outage is logged and counted once.
 * `epoch` counts outages: each one gets fresh fallback circuits, and generations handed out by the fallback carry the
 * epoch, so that an outcome can never land in another outage's circuit or in Redis.
 */
interface Health {
  up: boolean
  epoch: number
  probing: boolean
}

/** The `retryAfter` of a fail-closed store's rejections while Redis is unreachable, in milliseconds. */
const unavailableRetryAfterMillis = 1_000

const epochSpan = 2 ** 32

/** Generations of the fallback are negative, so they never equal a generation from Redis, which starts at 0. */
const publicGeneration = (epoch: number, generation: number): number => -1 - (epoch * epochSpan + generation)

const fallbackGeneration = (epoch: number, generation: number): number => {
  if (generation >= 0) return -1
  const n = -1 - generation
  const from = Math.floor(n / epochSpan)
  return from === epoch ? n - from * epochSpan : -1
}

const withGeneration = (state: Store.CircuitState, generation: number): Store.CircuitState => ({ ...state, generation })

const toFallbackOperation = (operation: Store.Operation, epoch: number): Store.Operation => {
  switch (operation._tag) {
    case "Record":
    case "CooldownElapsed":
      return { ...operation, generation: fallbackGeneration(epoch, operation.generation) }
    default:
      return operation
  }
}

const fromFallbackStep = (step: Store.Step, epoch: number): Store.Step => {
  const result = step.result
  return {
    state: withGeneration(step.state, publicGeneration(epoch, step.state.generation)),
    result: result?.admitted ? { ...result, generation: publicGeneration(epoch, result.generation) } : result,
    transition: step.transition
  }
}

interface Shared {
  readonly options: Resolved
  readonly connection: Connection.Connection
  readonly health: Health
  readonly markDown: (error: Error) => Effect.Effect<void>
  readonly probe: () => void
}

const describeMode = (options: Resolved): string =>
  options.onUnavailable === "fallback"
    ? "breakers keep their circuits in this process until it replies again"
    : "breakers reject every call until it replies again"

/**
 * Makes the factory on `client`. `startupError` is the error of the first connection attempt, if it failed: the store
 * then starts on its fallback, and logs the outage once.
 *
 * @internal
 */
export const makeFactory = (
  options: Resolved,
  client: Redis,
  Command: typeof import("ioredis").Command,
  startupError: Error | undefined
): Effect.Effect<Store.CircuitStoreFactory, never, Scope.Scope> =>
  Effect.gen(function* () {
    const connection = Connection.make(client, Command, options.commandTimeoutMillis)
    const health: Health = { up: true, epoch: 0, probing: false }
    const annotations = { redisStore: options.prefix }
    const runProbe = yield* FiberSet.makeRuntime<never>()

    const markDown = (error: Error): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (!health.up) return Effect.void
        health.up = false
        health.epoch++
        const message = `Redis store unreachable (${error.message}); ${describeMode(options)}`
        return Effect.zipRight(
          Metric.increment(outages),
          Effect.annotateLogs(Effect.logWarning(message, Cause.fail(error)), annotations)
        )
      })

    const recovered = Effect.suspend(() => {
      if (health.up) return Effect.void
      health.up = true
      const discarded = options.onUnavailable === "fallback" ? "; the circuits kept in this process are discarded" : ""
      return Effect.annotateLogs(
        Effect.logInfo(`Redis store reachable again; breakers share its circuits again${discarded}`),
        annotations
      )
    })

    // NOTE: a Redis that replies to PING but fails every script (a read-only replica, a full memory) ends each outage
    // at once and starts the next with the next call, so the outage and recovery lines repeat at the rate of calls.
    const probeOnce = Effect.matchEffect(connection.ping, { onFailure: () => Effect.void, onSuccess: () => recovered })

    // At most one probe runs at a time, and only while the client reports a connection: calls never wait on it.
    const probe = () => {
      if (health.up || health.probing || !connection.isReady()) return
      health.probing = true
      runProbe(
        Effect.ensuring(
          probeOnce,
          Effect.sync(() => {
            health.probing = false
          })
        )
      )
    }

    yield* Effect.acquireRelease(
      Effect.sync(() => client.on("ready", probe)),
      () => Effect.sync(() => client.off("ready", probe))
    )

    if (startupError !== undefined) yield* markDown(startupError)

    const shared: Shared = { options, connection, health, markDown, probe }
    return { make: (context) => makeStore(shared, context) }
  })

/**
 * Waits until the client is connected or has failed its first attempt, so that a store built at startup does not
 * report an outage for the moment it takes to connect. ioredis bounds the wait with its `connectTimeout`.
 *
 * @internal
 */
export const settleConnection = (client: Redis): Effect.Effect<Error | undefined> =>
  Effect.async<Error | undefined>((resume) => {
    if (client.status === "ready") {
      resume(Effect.succeed(undefined))
      return
    }

    let done = false
    const finish = (error: Error | undefined) => {
      if (done) return
      done = true
      client.off("ready", onReady)
      client.off("error", onError)
      client.off("end", onEnd)
      resume(Effect.succeed(error))
    }
    const onReady = () => finish(undefined)
    const onError = (error: Error) => finish(error)
    const onEnd = () => finish(new Error("Connection is closed."))
    client.on("ready", onReady)
    client.on("error", onError)
    client.on("end", onEnd)
    if (client.status === "wait") {
      client.connect().catch((error: unknown) => finish(error instanceof Error ? error : new Error(String(error))))
    }
  })

const makeStore = (
  shared: Shared,
  context: Store.StoreContext
): Effect.Effect<Store.CircuitStore, never, Scope.Scope> =>
  Effect.gen(function* () {
    const { connection, health, options } = shared
    const policy = context.policy
    const tail = Codec.policyArgs(policy)
    const leaseMillis = options.trialLeaseMillis
    const idleMillis =
      options.idleTimeToLiveMillis ??
      context.limits?.idleTimeToLiveMillis ??
      Duration.toMillis(defaults.singleIdleTimeToLive)
    const scope = yield* Effect.scope
    // Renewals run with the context the breaker was made in, so they sleep on the breaker's `Clock`.
    const runRenewal = yield* FiberSet.makeRuntime<never>()
    const renewals = new Map<string, Fiber.RuntimeFiber<void>>()
    let fallback: { readonly epoch: number; readonly store: Store.CircuitStore } | undefined

    const redisKey = (key: string) => keyOf(options.prefix, context.name, key)
    const annotate = (key: string) =>
      context.keyed ? { circuitBreaker: context.name, key } : { circuitBreaker: context.name }

    const script = (key: string, operation: Codec.ScriptOperation, now: number) =>
      Effect.map(
        connection.run(redisKey(key), [...Codec.operationArgs(operation, now, leaseMillis, idleMillis), ...tail]),
        (reply) => Codec.decodeReply(reply, policy, now)
      )

    // The renewal of one trial's lease runs every third of the lease. It ends when the trial's outcome is recorded,
    // when Redis reports that the trial lost the slot, or when Redis is unreachable (the lease then lapses).
    const renewalId = (key: string, generation: number) => `${key}\u0000${generation}`

    const renewLoop = (key: string, generation: number): Effect.Effect<void> =>
      Effect.sleep(Duration.millis(leaseMillis / 3)).pipe(
        Effect.zipRight(
          Effect.suspend(() => script(key, { _tag: "RenewLease", generation }, context.clock.unsafeCurrentTimeMillis()))
        ),
        Effect.matchEffect({
          onFailure: shared.markDown,
          onSuccess: (reply) => (reply.note === "renewed" ? renewLoop(key, generation) : Effect.void)
        })
      )

    const startRenewal = (key: string, generation: number) => {
      const id = renewalId(key, generation)
      const fiber = runRenewal(
        Effect.ensuring(
          renewLoop(key, generation),
          Effect.sync(() => {
            if (renewals.get(id) === fiber) renewals.delete(id)
          })
        )
      )
      renewals.set(id, fiber)
    }

    const stopRenewal = (key: string, generation: number): Effect.Effect<void> => {
      const id = renewalId(key, generation)
      const fiber = renewals.get(id)
      if (fiber === undefined) return Effect.void
      renewals.delete(id)
      return Fiber.interruptFork(fiber)
    }

    const currentFallback: Effect.Effect<Store.CircuitStore> = Effect.suspend(() => {
      const epoch = health.epoch
      if (fallback !== undefined && fallback.epoch === epoch) return Effect.succeed(fallback.store)
      return Effect.map(Scope.extend(Store.memory.make(context), scope), (created) => {
        if (fallback === undefined || fallback.epoch !== epoch) fallback = { epoch, store: created }
        return fallback.store
      })
    })

    const unavailableState = (now: number): Store.CircuitState => ({
      _tag: "Open",
      generation: -1,
      openedAt: now,
      openUntil: now + unavailableRetryAfterMillis,
      backoff: { openings: 0, openSince: 0, lastOpenMillis: 0, closedAt: Number.NEGATIVE_INFINITY }
    })

    const viaFallback = (
      key: string,
      operation: Store.Operation,
      onTransition: (transition: Store.StoreTransition) => void
    ): Effect.Effect<Store.Step> =>
      // Lazy, so that the epoch is read after an outage that the same call discovered has been marked.
      Effect.suspend(() => {
        shared.probe()
        if (options.onUnavailable === "failClosed") {
          const now = context.clock.unsafeCurrentTimeMillis()
          const result: Store.Step["result"] =
            operation._tag === "Admit"
              ? { admitted: false, state: "Open", retryAfterMillis: unavailableRetryAfterMillis }
              : undefined
          return Effect.succeed({ state: unavailableState(now), result, transition: undefined })
        }

        const epoch = health.epoch
        return Effect.flatMap(currentFallback, (store) =>
          Effect.map(store.apply(key, toFallbackOperation(operation, epoch), onTransition), (step) =>
            fromFallbackStep(step, epoch)
          )
        )
      })

    const afterReply = (key: string, operation: Store.Operation, reply: Codec.Reply): Effect.Effect<Store.Step> => {
      const step = reply.step
      const admission = step.result
      if (operation._tag === "Admit" && admission !== undefined && admission.admitted && admission.trial) {
        startRenewal(key, admission.generation)
      }
      if (reply.note !== "lapsed") return Effect.succeed(step)

      const message = "Circuit breaker trial lease lapsed before its outcome arrived; admitting a new trial"
      return Effect.as(Effect.annotateLogs(Effect.logWarning(message), annotate(key)), step)
    }

    const apply: Store.CircuitStore["apply"] = (key, operation, onTransition) =>
      Effect.suspend(() => {
        const stopped = operation._tag === "Record" ? stopRenewal(key, operation.generation) : Effect.void
        if (!health.up) return Effect.zipRight(stopped, viaFallback(key, operation, onTransition))

        const now = context.clock.unsafeCurrentTimeMillis()
        return stopped.pipe(
          Effect.zipRight(script(key, operation, now)),
          Effect.matchEffect({
            onFailure: (error) => Effect.zipRight(shared.markDown(error), viaFallback(key, operation, onTransition)),
            onSuccess: (reply) => {
              if (reply.step.transition !== undefined) onTransition(reply.step.transition)
              return afterReply(key, operation, reply)
            }
          })
        )
      })

    const fallbackSnapshot = Effect.suspend(() => {
      if (options.onUnavailable === "failClosed") {
        const now = context.clock.unsafeCurrentTimeMillis()
        return Effect.succeed(context.keyed ? [] : [["", unavailableState(now)] as const])
      }
      const epoch = health.epoch
      return Effect.flatMap(currentFallback, (store) =>
        Effect.map(store.snapshot, (circuits) =>
          circuits.map(
            ([key, state]) => [key, withGeneration(state, publicGeneration(epoch, state.generation))] as const
          )
        )
      )
    })

    const read = (key: string) =>
      Effect.map(script(key, { _tag: "Read" }, context.clock.unsafeCurrentTimeMillis()), (reply) => reply.step.state)

    const keyPrefix = redisKey("")
    const storedKeys = connection.scan(`${globEscape(keyPrefix)}*`)

    const redisSnapshot: Effect.Effect<ReadonlyArray<readonly [string, Store.CircuitState]>, Error> = context.keyed
      ? Effect.flatMap(storedKeys, (keys) =>
          Effect.forEach(keys, (stored) => {
            const key = stored.slice(keyPrefix.length)
            return Effect.map(read(key), (state) => [key, state] as const)
          })
        )
      : Effect.map(read(""), (state) => [["", state] as const])

    const fallbackOnFailure = <A>(
      fromRedis: Effect.Effect<A, Error>,
      fromFallback: Effect.Effect<A>
    ): Effect.Effect<A> =>
      Effect.suspend(() =>
        health.up
          ? Effect.catchAll(fromRedis, (error) => Effect.zipRight(shared.markDown(error), fromFallback))
          : Effect.zipRight(
              Effect.sync(() => shared.probe()),
              fromFallback
            )
      )

    const store: Store.CircuitStore = {
      apply,
      snapshot: fallbackOnFailure(redisSnapshot, fallbackSnapshot),
      size: context.keyed
        ? fallbackOnFailure(
            Effect.map(storedKeys, (keys) => keys.length),
            Effect.map(fallbackSnapshot, (circuits) => circuits.length)
          )
        : Effect.succeed(1)
    }
    return store
  })
