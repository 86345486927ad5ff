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

const invalid = (option: string, value: unknown, allowed: string): string =>
  `Invalid circuit breaker option ${option}: expected ${allowed}, got ${describe(value)}`

const checkInteger = (option: string, value: unknown): string | undefined =>
  typeof value === "number" && Number.isSafeInteger(value) && value >= 1
    ? undefined
    : invalid(option, value, "an integer of at least 1")

const decodeCooldown = (value: unknown): Either.Either<Duration.Duration, string> => {
  const allowed = 'a finite duration above zero, such as "30 seconds" or a number of milliseconds'
  // `Duration.decodeUnknown` accepts NaN and negative numbers as inputs, so the number checks come first.
  if (typeof value === "number" && !(value > 0)) {
    return Either.left(invalid("cooldown", value, allowed))
  }

  const decoded = Duration.decodeUnknown(value)
  if (decoded._tag === "None") {
    return Either.left(invalid("cooldown", value, allowed))
  }

  const duration = decoded.value
  if (!Duration.isFinite(duration) || Duration.toMillis(duration) <= 0) {
    return Either.left(invalid("cooldown", value, allowed))
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
  const name = input.name ?? defaultName
  if (typeof name !== "string" || name.length === 0) {
    return Either.left(invalid("name", name, "a non-empty string"))
  }

  const failureThreshold = input.failureThreshold
  const failureError = checkInteger("failureThreshold", failureThreshold)
  if (failureError !== undefined) {
    return Either.left(failureError)
  }

  const successThreshold = input.successThreshold ?? 1
  const successError = checkInteger("successThreshold", successThreshold)
  if (successError !== undefined) {
    return Either.left(successError)
  }

  const cooldown = decodeCooldown(input.cooldown)
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
