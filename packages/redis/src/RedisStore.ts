/**
 * A circuit store on Redis: breakers with the same name in many processes share one circuit.
 *
 * Every operation of a breaker (an admission, an outcome, the end of a cooldown, a read, an operator's command) is one
 * Lua script that Redis runs atomically on the circuit's hash. The script applies the same rules as the in-memory
 * store, so concurrent processes never lose an outcome and never both move the same circuit.
 *
 * - **One trial for the whole fleet.** A HalfOpen circuit admits one trial across every process. The admission
 *   records a lease, which the process running the trial renews every third of `trialLease`. If that process dies,
 *   the lease lapses and the next admission anywhere becomes the trial, with a new generation, so the dead trial's
 *   outcome is ignored if it ever arrives.
 * - **Fencing.** The generations that fence off late outcomes live in Redis, so an outcome from a call admitted in an
 *   earlier period, in any process, changes nothing.
 * - **Startup reads, never writes.** A process that starts finds the circuit as the others left it.
 * - **Time from the caller.** Each operation carries the `Clock` time of the process that sends it; Redis's own
 *   clock is not used for the rules.
 * - **Keys expire when idle.** Every write sets an expiry of `idleTimeToLive`, lengthened by the rest of an Open
 *   cooldown or of a running trial's lease.
 * - **Outages.** When Redis does not answer within `commandTimeout`, calls go on with circuits kept in this process
 *   (or are rejected, with `onUnavailable: "failClosed"`) until Redis answers again; the outage and the recovery are
 *   logged once each and counted in {@link outages}.
 *
 * **Gotchas**
 *
 * - Every process that shares a breaker's name must give it the same options: the policy travels with each
 *   operation, and processes with different thresholds judge the same circuit by different rules.
 * - A shared circuit is only as right as the clocks of the processes sharing it: a clock that runs ahead ends
 *   cooldowns and leases early for everyone. See docs/shared-breakers.md.
 * - Each process publishes on `transitions` only the changes its own operations caused.
 * - While Redis is unreachable each process keeps its own circuits, starting Closed; when Redis answers again those
 *   circuits are discarded, and outcomes of calls admitted meanwhile are ignored.
 * - A keyed breaker's `maxKeys` is not enforced on Redis; idle keys expire instead.
 *
 * @since 0.1.0
 */
import type * as Store from "@effect-resilience/circuit-breaker/Store"
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type * as Metric from "effect/Metric"
import type * as Scope from "effect/Scope"
import type { Redis, RedisOptions } from "ioredis"
import * as internal from "./internal/layer.js"
import * as redisStore from "./internal/redisStore.js"

/**
 * The options of the Redis store. Every duration is a `Duration.DurationInput`.
 *
 * @example
 * ```ts
 * import type { RedisStore } from "@effect-resilience/redis"
 *
 * const options: RedisStore.Options = {
 *   url: "redis://127.0.0.1:6379",
 *   prefix: "checkout",
 *   commandTimeout: "200 millis",
 *   trialLease: "15 seconds",
 *   onUnavailable: "fallback"
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * The address of Redis, as `redis://[user:password@]host:port[/db]`, or `rediss://` for TLS. Default
   * `redis://127.0.0.1:6379`. Give either this or `client`.
   */
  readonly url?: string | undefined
  /**
   * A connection you made and keep: the store sends its commands on it and never closes it. Its offline queue and
   * retry settings are yours; the store still bounds each of its commands by `commandTimeout`.
   */
  readonly client?: Redis | undefined
  /** Further ioredis options for the connection the store makes from `url`; they override the store's own. */
  readonly redis?: RedisOptions | undefined
  /**
   * The start of every key, which keeps the circuits of one application apart from another's on the same Redis. A
   * non-empty string of at most 256 characters; default `"effect-resilience"`.
   */
  readonly prefix?: string | undefined
  /**
   * How long a call waits for Redis before it goes on without it: from 1 millisecond to 1 minute; default
   * 250 milliseconds.
   */
  readonly commandTimeout?: Duration.DurationInput | undefined
  /** How long the connection the store makes may take to connect: from 1 millisecond to 1 minute; default 1 second. */
  readonly connectTimeout?: Duration.DurationInput | undefined
  /**
   * How long a HalfOpen trial holds the fleet's only trial slot without a renewal. The process running the trial
   * renews it every third of this; when that process dies, the slot frees this long after its last renewal. From
   * three times `commandTimeout` (and at least 100 milliseconds) to 1 hour; default 10 seconds.
   */
  readonly trialLease?: Duration.DurationInput | undefined
  /**
   * How long a circuit's key outlives its last change. From 1 second to 30 days; default: a keyed breaker's own
   * `idleTimeToLive`, and 1 hour for a single breaker.
   */
  readonly idleTimeToLive?: Duration.DurationInput | undefined
  /**
   * What breakers do while Redis is unreachable: `"fallback"` (the default) keeps circuits in this process, as the
   * in-memory store does; `"failClosed"` rejects every call with `CircuitBreakerOpen`.
   */
  readonly onUnavailable?: "fallback" | "failClosed" | undefined
}

/**
 * The options {@link layerConfig} reads from `Config`: every option but the connection objects.
 *
 * @example
 * ```ts
 * import type { RedisStore } from "@effect-resilience/redis"
 *
 * const options: RedisStore.ConfigOptions = { url: "redis://127.0.0.1:6379", prefix: "checkout" }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type ConfigOptions = Omit<Options, "client" | "redis">

/**
 * Makes the store factory in the current scope: it connects (or takes `client`), and closing the scope closes the
 * connection it made. Invalid options are a defect whose message names the option, the value and the allowed range.
 *
 * @example
 * ```ts
 * import { CircuitBreaker, Store } from "@effect-resilience/circuit-breaker"
 * import { RedisStore } from "@effect-resilience/redis"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function* () {
 *   const factory = yield* RedisStore.make({ url: "redis://127.0.0.1:6379" })
 *   const breaker = yield* CircuitBreaker.make({ name: "payments", failureThreshold: 5, cooldown: "30 seconds" }).pipe(
 *     Effect.provideService(Store.CircuitStoreFactory, factory)
 *   )
 *   return yield* breaker.protect(Effect.succeed("charged"))
 * })
 *
 * Effect.runPromise(Effect.scoped(program))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (options?: Options) => Effect.Effect<Store.CircuitStoreFactory, never, Scope.Scope> = internal.make

/**
 * Provides the Redis store to every breaker made where the layer is provided.
 *
 * **Gotchas**
 *
 * - Provide it to the breaker's layer (or to the code that makes the breaker), not to the calls of `protect`.
 * - One layer holds one connection. Share the layer between breakers of one process; build it once per process.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@effect-resilience/circuit-breaker"
 * import { RedisStore } from "@effect-resilience/redis"
 * import { Effect, Layer } from "effect"
 *
 * const Breaker = CircuitBreaker.layer({ name: "llm-api", failureThreshold: 5, cooldown: "30 seconds" }).pipe(
 *   Layer.provide(RedisStore.layer({ url: "redis://127.0.0.1:6379", prefix: "checkout" }))
 * )
 *
 * const program = CircuitBreaker.protect(Effect.succeed("ok")).pipe(Effect.provide(Breaker))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: (options?: Options) => Layer.Layer<Store.CircuitStoreFactory> = internal.layer

/**
 * Provides the Redis store with options read from `Config`. An option that fails validation fails the layer with a
 * `ConfigError` whose path is the option's name.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "@effect-resilience/circuit-breaker"
 * import { RedisStore } from "@effect-resilience/redis"
 * import { Config, Layer } from "effect"
 *
 * const Store = RedisStore.layerConfig({
 *   url: Config.string("REDIS_URL"),
 *   prefix: Config.withDefault(Config.string("REDIS_PREFIX"), "checkout"),
 *   commandTimeout: Config.withDefault(Config.duration("REDIS_COMMAND_TIMEOUT"), "250 millis")
 * })
 *
 * const Breaker = CircuitBreaker.layer({ name: "llm-api", failureThreshold: 5, cooldown: "30 seconds" }).pipe(
 *   Layer.provide(Store)
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig: (
  config: Config.Config.Wrap<ConfigOptions>
) => Layer.Layer<Store.CircuitStoreFactory, ConfigError.ConfigError> = internal.layerConfig

/**
 * Counts the outages the Redis stores of this process noticed: one per outage of each layer, however many calls it
 * affected.
 *
 * @example
 * ```ts
 * import { RedisStore } from "@effect-resilience/redis"
 * import { Effect, Metric } from "effect"
 *
 * const report = Effect.map(Metric.value(RedisStore.outages), (state) => `Redis outages so far: ${state.count}`)
 * ```
 *
 * @since 0.1.0
 * @category metrics
 */
export const outages: Metric.Metric.Counter<number> = redisStore.outages

/**
 * The Redis key of one circuit: `prefix:name:key`, with `%` and `:` in the name escaped as `%25` and `%3A`, and the
 * empty string as the key of a single breaker. Use it to inspect or delete a circuit by hand.
 *
 * @example
 * ```ts
 * import { RedisStore } from "@effect-resilience/redis"
 *
 * // "checkout:llm-api:" holds the circuit of the single breaker named "llm-api".
 * const key = RedisStore.keyOf("checkout", "llm-api", "")
 * ```
 *
 * @since 0.1.0
 * @category keys
 */
export const keyOf: (prefix: string, name: string, key: string) => string = redisStore.keyOf
