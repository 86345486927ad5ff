import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import type { Redis, RedisOptions } from "ioredis"
import type * as Api from "../RedisStore.js"

/**
 * The options of the store after validation, with every duration in milliseconds.
 *
 * @internal
 */
export interface Resolved {
  readonly prefix: string
  readonly url: string
  readonly client: Redis | undefined
  readonly redis: RedisOptions | undefined
  readonly commandTimeoutMillis: number
  readonly connectTimeoutMillis: number
  readonly trialLeaseMillis: number
  /** Undefined when the store uses each breaker's own default (a keyed breaker's `idleTimeToLive`, else an hour). */
  readonly idleTimeToLiveMillis: number | undefined
  readonly onUnavailable: "fallback" | "failClosed"
}

/** @internal */
export const defaults = {
  prefix: "effect-resilience",
  url: "redis://127.0.0.1:6379",
  commandTimeout: Duration.millis(250),
  connectTimeout: Duration.seconds(1),
  trialLease: Duration.seconds(10),
  singleIdleTimeToLive: Duration.hours(1)
} as const

const describe = (value: unknown): string => {
  if (typeof value === "string") return JSON.stringify(value)
  if (typeof value === "function") return "a function"
  if (typeof value === "object" && value !== null) {
    try {
      return JSON.stringify(value)
    } catch {
      return "an object"
    }
  }
  return String(value)
}

/** @internal */
export const invalid = (option: string, value: unknown, allowed: string): string =>
  `Invalid Redis store option ${option}: expected ${allowed}, got ${describe(value)}`

/**
 * Returns the option a validation message names, for the path of a `ConfigError`.
 *
 * @internal
 */
export const optionNameOf = (message: string): string => /^Invalid Redis store option (\w+):/.exec(message)?.[1] ?? ""

const duration = (
  option: string,
  value: unknown,
  fallback: Duration.Duration,
  minMillis: number,
  maxMillis: number
): Either.Either<number, string> => {
  if (value === undefined) return Either.right(Duration.toMillis(fallback))

  const allowed = `a duration from ${Duration.format(Duration.millis(minMillis))} to ${Duration.format(Duration.millis(maxMillis))}`
  // `Duration.decodeUnknown` accepts NaN and negative numbers, so numbers are checked first.
  if (typeof value === "number" && !(value >= 0)) return Either.left(invalid(option, value, allowed))
  const decoded = Duration.decodeUnknown(value)
  if (decoded._tag === "None" || !Duration.isFinite(decoded.value)) return Either.left(invalid(option, value, allowed))
  const millis = Duration.toMillis(decoded.value)
  return millis >= minMillis && millis <= maxMillis
    ? Either.right(millis)
    : Either.left(invalid(option, value, allowed))
}

const isClient = (value: unknown): value is Redis =>
  typeof value === "object" && value !== null && typeof (value as { sendCommand?: unknown }).sendCommand === "function"

/**
 * Validates the options and fills in defaults. The left side names the option, the value it got and the allowed
 * range.
 *
 * @internal
 */
export const resolve = (options: Api.Options | undefined): Either.Either<Resolved, string> => {
  const input: Record<string, unknown> = typeof options === "object" && options !== null ? { ...options } : {}
  if (options !== undefined && (typeof options !== "object" || options === null)) {
    return Either.left(`Invalid Redis store options: expected an object, got ${describe(options)}`)
  }

  const prefix = input.prefix ?? defaults.prefix
  if (typeof prefix !== "string" || prefix.length === 0 || prefix.length > 256) {
    return Either.left(invalid("prefix", prefix, "a non-empty string of at most 256 characters"))
  }

  const url = input.url ?? defaults.url
  if (typeof url !== "string" || !/^rediss?:\/\//.test(url)) {
    return Either.left(invalid("url", url, 'a URL starting with "redis://" or "rediss://"'))
  }

  const client = input.client
  if (client !== undefined && !isClient(client)) {
    return Either.left(invalid("client", client, "an ioredis Redis client"))
  }
  if (client !== undefined && input.url !== undefined) {
    return Either.left(invalid("url", input.url, "no url when client is given"))
  }
  if (client !== undefined && input.redis !== undefined) {
    return Either.left(invalid("redis", input.redis, "no redis options when client is given"))
  }

  const redis = input.redis
  if (redis !== undefined && (typeof redis !== "object" || redis === null)) {
    return Either.left(invalid("redis", redis, "an object of ioredis options"))
  }

  const commandTimeout = duration("commandTimeout", input.commandTimeout, defaults.commandTimeout, 1, 60_000)
  if (Either.isLeft(commandTimeout)) return Either.left(commandTimeout.left)

  const connectTimeout = duration("connectTimeout", input.connectTimeout, defaults.connectTimeout, 1, 60_000)
  if (Either.isLeft(connectTimeout)) return Either.left(connectTimeout.left)

  // A renewal runs every third of the lease and may take up to a command timeout, so a shorter lease could lapse
  // while its trial still runs.
  const minLease = Math.max(100, commandTimeout.right * 3)
  const trialLease = duration("trialLease", input.trialLease, defaults.trialLease, minLease, 3_600_000)
  if (Either.isLeft(trialLease)) return Either.left(trialLease.left)

  let idleTimeToLiveMillis: number | undefined
  if (input.idleTimeToLive !== undefined) {
    const idle = duration("idleTimeToLive", input.idleTimeToLive, defaults.singleIdleTimeToLive, 1_000, 2_592_000_000)
    if (Either.isLeft(idle)) return Either.left(idle.left)
    idleTimeToLiveMillis = idle.right
  }

  const onUnavailable = input.onUnavailable ?? "fallback"
  if (onUnavailable !== "fallback" && onUnavailable !== "failClosed") {
    return Either.left(invalid("onUnavailable", onUnavailable, '"fallback" or "failClosed"'))
  }

  return Either.right({
    prefix,
    url,
    client,
    redis: redis as RedisOptions | undefined,
    commandTimeoutMillis: commandTimeout.right,
    connectTimeoutMillis: connectTimeout.right,
    trialLeaseMillis: trialLease.right,
    idleTimeToLiveMillis,
    onUnavailable
  })
}
