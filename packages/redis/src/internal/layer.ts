import { Store } from "@effect-resilience/circuit-breaker"
import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type { Redis, RedisOptions } from "ioredis"
import type * as Api from "../RedisStore.js"
import * as Options from "./options.js"
import * as RedisStore from "./redisStore.js"

const loadIoredis = Effect.tryPromise(() => import("ioredis")).pipe(
  Effect.map((module) => {
    // ioredis is CommonJS: depending on the loader its classes sit on the namespace or on its default export.
    const loaded = module as unknown as { Redis?: typeof Redis; Command?: unknown; default?: unknown }
    const fallback = loaded.default as { Redis?: typeof Redis; Command?: unknown } | undefined
    return {
      Redis: (loaded.Redis ?? fallback?.Redis ?? fallback) as typeof Redis,
      Command: (loaded.Command ?? fallback?.Command) as typeof import("ioredis").Command
    }
  }),
  Effect.orDieWith(
    (cause) =>
      new Error(
        `@effect-resilience/redis needs the ioredis package (pnpm add ioredis): ${String(cause.error ?? cause)}`
      )
  )
)

const close = (client: Redis): Effect.Effect<void> =>
  Effect.promise(() =>
    client.quit().then(
      () => undefined,
      () => undefined
    )
  ).pipe(Effect.ensuring(Effect.sync(() => client.disconnect())))

/**
 * Makes the factory from validated options: the connection first (made here and closed with the scope, unless the
 * options carry a client), then the store's shared state on it.
 *
 * @internal
 */
export const makeResolved = (options: Options.Resolved): Effect.Effect<Store.CircuitStoreFactory, never, Scope.Scope> =>
  Effect.gen(function* () {
    const ioredis = yield* loadIoredis
    const client =
      options.client ??
      (yield* Effect.acquireRelease(
        Effect.sync(() => {
          const settings = {
            lazyConnect: true,
            // Fail fast instead of queueing while disconnected: a queued command would hold its call.
            enableOfflineQueue: false,
            maxRetriesPerRequest: 0,
            connectTimeout: options.connectTimeoutMillis,
            commandTimeout: options.commandTimeoutMillis,
            retryStrategy: (attempts: number) => Math.min(attempts * 100, 1_000),
            ...options.redis
          } as RedisOptions
          // ioredis types `replyMapping` in a way that `exactOptionalPropertyTypes` rejects; the store never sets it.
          const created = new ioredis.Redis(options.url, settings as Omit<RedisOptions, "replyMapping">)
          // Errors reach the store through the commands that fail; without a listener ioredis prints them.
          created.on("error", () => {})
          return created
        }),
        close
      ))

    const startupError = yield* RedisStore.settleConnection(client)
    return yield* RedisStore.makeFactory(options, client, ioredis.Command, startupError)
  })

/** @internal */
export const make = (options?: Api.Options): Effect.Effect<Store.CircuitStoreFactory, never, Scope.Scope> =>
  Effect.suspend(() => {
    const resolved = Options.resolve(options)
    return Either.isLeft(resolved)
      ? Effect.die(new Cause.IllegalArgumentException(resolved.left))
      : makeResolved(resolved.right)
  })

/** @internal */
export const layer = (options?: Api.Options): Layer.Layer<Store.CircuitStoreFactory> =>
  Layer.scoped(Store.CircuitStoreFactory, make(options))

/** @internal */
export const layerConfig = (
  config: Config.Config.Wrap<Api.ConfigOptions>
): Layer.Layer<Store.CircuitStoreFactory, ConfigError.ConfigError> =>
  Layer.scoped(
    Store.CircuitStoreFactory,
    Effect.flatMap(Config.unwrap(config), (options) => {
      const resolved = Options.resolve(options)
      return Either.isLeft(resolved)
        ? Effect.fail(ConfigError.InvalidData([Options.optionNameOf(resolved.left)], resolved.left))
        : makeResolved(resolved.right)
    })
  )
