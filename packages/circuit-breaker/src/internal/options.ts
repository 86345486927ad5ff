import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import type { Policy } from "./machine.js"

/**
 * The options a breaker runs with, after validation and defaults.
 *
 * @internal
 */
export interface ResolvedOptions extends Policy {
  readonly name: string
  readonly cooldown: Duration.Duration
  readonly isFailure: ((error: unknown) => boolean) | undefined
}

/** @internal */
export const defaultName = "default"

const describe = (value: unknown): string => {
  if (typeof value === "string") {
    return JSON.stringify(value)
  }
  if (typeof value === "bigint") {
    return `${value}n`
  }
  if (typeof value === "function") {
    return "a function"
  }
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
  `Invalid circuit breaker option ${option}: expected ${allowed}, got ${describe(value)}`

/**
 * Checks an option that must be a safe integer of at least 1, returning the message when it is not.
 *
 * @internal
 */
export const checkInteger = (option: string, value: unknown): string | undefined =>
  typeof value === "number" && Number.isSafeInteger(value) && value >= 1
    ? undefined
    : invalid(option, value, "an integer of at least 1")

/**
 * Decodes a positive, finite duration option.
 *
 * @internal
 */
export const decodeDuration = (option: string, value: unknown): Either.Either<Duration.Duration, string> => {
  const allowed = 'a finite duration above zero, such as "30 seconds" or a number of milliseconds'
  // `Duration.decodeUnknown` accepts NaN and negative numbers as inputs, so the number checks come first.
  if (typeof value === "number" && !(value > 0)) {
    return Either.left(invalid(option, value, allowed))
  }

  const decoded = Duration.decodeUnknown(value)
  if (decoded._tag === "None") {
    return Either.left(invalid(option, value, allowed))
  }

  const duration = decoded.value
  if (!Duration.isFinite(duration) || Duration.toMillis(duration) <= 0) {
    return Either.left(invalid(option, value, allowed))
  }

  return Either.right(duration)
}

/**
 * Validates user options and fills in defaults. The left side is a message naming the option, the value it got and
 * the allowed range.
 *
 * @internal
 */
export const resolve = (options: unknown): Either.Either<ResolvedOptions, string> => {
  if (typeof options !== "object" || options === null) {
    return Either.left(
      `Invalid circuit breaker options: expected an object with failureThreshold and cooldown, got ${describe(options)}`
    )
  }

  const input = options as Record<string, unknown>
  const name = input.name === undefined ? defaultName : input.name
  if (typeof name !== "string" || name.length === 0) {
    return Either.left(invalid("name", name, "a non-empty string"))
  }

  const failureThreshold = input.failureThreshold
  const failureError = checkInteger("failureThreshold", failureThreshold)
  if (failureError !== undefined) {
    return Either.left(failureError)
  }

  const successThreshold = input.successThreshold === undefined ? 1 : input.successThreshold
  const successError = checkInteger("successThreshold", successThreshold)
  if (successError !== undefined) {
    return Either.left(successError)
  }

  const cooldown = decodeDuration("cooldown", input.cooldown)
  if (Either.isLeft(cooldown)) {
    return Either.left(cooldown.left)
  }

  const isFailure = input.isFailure
  if (isFailure !== undefined && typeof isFailure !== "function") {
    return Either.left(invalid("isFailure", isFailure, "a function from the error to a boolean"))
  }

  return Either.right({
    name,
    failureThreshold: failureThreshold as number,
    successThreshold: successThreshold as number,
    cooldown: cooldown.right,
    cooldownMillis: Duration.toMillis(cooldown.right),
    isFailure: isFailure as ((error: unknown) => boolean) | undefined
  })
}

/**
 * The options of a keyed breaker, after validation and defaults.
 *
 * @internal
 */
export interface ResolvedKeyedOptions extends ResolvedOptions {
  readonly idleTimeToLive: Duration.Duration
  readonly idleTimeToLiveMillis: number
  readonly maxKeys: number
}

/** @internal */
export const defaultIdleTimeToLive = Duration.minutes(10)

/** @internal */
export const defaultMaxKeys = 10_000

/**
 * Validates the options of a keyed breaker: those of a single breaker, plus `idleTimeToLive` and `maxKeys`.
 *
 * @internal
 */
export const resolveKeyed = (options: unknown): Either.Either<ResolvedKeyedOptions, string> =>
  Either.flatMap(resolve(options), (base) => {
    const input = options as Record<string, unknown>
    const idleTimeToLive = decodeDuration(
      "idleTimeToLive",
      input.idleTimeToLive === undefined ? defaultIdleTimeToLive : input.idleTimeToLive
    )
    if (Either.isLeft(idleTimeToLive)) {
      return Either.left(idleTimeToLive.left)
    }

    const maxKeys = input.maxKeys === undefined ? defaultMaxKeys : input.maxKeys
    const maxKeysError = checkInteger("maxKeys", maxKeys)
    if (maxKeysError !== undefined) {
      return Either.left(maxKeysError)
    }

    return Either.right({
      ...base,
      idleTimeToLive: idleTimeToLive.right,
      idleTimeToLiveMillis: Duration.toMillis(idleTimeToLive.right),
      maxKeys: maxKeys as number
    })
  })

/**
 * Returns the option a validation message names, for the path of a `ConfigError`.
 *
 * @internal
 */
export const optionNameOf = (message: string): string =>
  /^Invalid circuit breaker option (\w+):/.exec(message)?.[1] ?? ""
