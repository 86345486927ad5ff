import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schedule from "effect/Schedule"
import * as ScheduleDecision from "effect/ScheduleDecision"
import * as Intervals from "effect/ScheduleIntervals"
import type * as Api from "../CircuitBreaker.js"
import * as Machine from "./machine.js"
import type * as Window from "./window.js"

/**
 * The options a breaker runs with, after validation and defaults. The cooldown table of the policy is computed
 * later by {@link buildPolicy}, because a cooldown `Schedule` may need the `Random` service.
 *
 * @internal
 */
export interface ResolvedOptions {
  readonly name: string
  readonly isFailure: ((error: unknown) => boolean) | undefined
  readonly trips: ReadonlyArray<Machine.Trip>
  readonly successThreshold: number
  readonly cooldown: Duration.Duration | Schedule.Schedule<unknown, unknown, never>
  readonly maxCooldownMillis: number
  /** Per-call timeout in milliseconds, or undefined for none. */
  readonly callTimeoutMillis: number | undefined
  /** Timeout of a HalfOpen trial in milliseconds. */
  readonly trialTimeoutMillis: number
  readonly mode: "Enabled" | "Disabled"
  readonly durationMetric: boolean
}

/** @internal */
export const defaultName = "default"

/** @internal */
export const defaultMaxCooldown = Duration.minutes(10)

/** @internal */
export const defaultTrialTimeout = Duration.minutes(1)

/** How many openings in a row get their own cooldown from a `Schedule`; later openings reuse the last one. */
const cooldownTableSize = 32

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
 * Checks an option that must be a safe integer in `[min, max]`, returning the message when it is not.
 *
 * @internal
 */
export const checkInteger = (
  option: string,
  value: unknown,
  min = 1,
  max = Number.MAX_SAFE_INTEGER
): string | undefined => {
  if (typeof value === "number" && Number.isSafeInteger(value) && value >= min && value <= max) {
    return undefined
  }
  const range = max === Number.MAX_SAFE_INTEGER ? `an integer of at least ${min}` : `an integer from ${min} to ${max}`
  return invalid(option, value, range)
}

const checkFraction = (option: string, value: unknown): string | undefined =>
  typeof value === "number" && value > 0 && value <= 1
    ? undefined
    : invalid(option, value, "a fraction above 0 and at most 1, such as 0.5 for 50%")

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

const resolveWindow = (path: string, value: unknown): Either.Either<Window.WindowSpec, string> => {
  const window = value as Api.SlidingWindow | undefined
  if (typeof window !== "object" || window === null) {
    return Either.left(invalid(path, value, "a window made by CircuitBreaker.lastCalls or CircuitBreaker.lastDuration"))
  }

  if (window._tag === "Calls") {
    const error = checkInteger(`${path}.size`, window.size, 1, 100_000)
    return error === undefined ? Either.right({ _tag: "Calls", size: window.size }) : Either.left(error)
  }

  if (window._tag === "Time") {
    const duration = decodeDuration(`${path}.duration`, window.duration)
    if (Either.isLeft(duration)) return Either.left(duration.left)
    const bucketsError = checkInteger(`${path}.buckets`, window.buckets, 1, 1_000)
    if (bucketsError !== undefined) return Either.left(bucketsError)
    const durationMillis = Duration.toMillis(duration.right)
    if (durationMillis / window.buckets < 1) {
      return Either.left(
        invalid(
          `${path}.buckets`,
          window.buckets,
          `at most one bucket per millisecond of the ${durationMillis} ms window`
        )
      )
    }
    return Either.right({ _tag: "Time", durationMillis, buckets: window.buckets })
  }

  return Either.left(invalid(path, value, "a window made by CircuitBreaker.lastCalls or CircuitBreaker.lastDuration"))
}

const resolveTrip = (path: string, value: unknown): Either.Either<Machine.Trip, string> => {
  const trip = value as Api.TripPolicy | undefined
  if (typeof trip !== "object" || trip === null) {
    return Either.left(invalid(path, value, "a trip policy such as CircuitBreaker.consecutiveFailures(5)"))
  }

  switch (trip._tag) {
    case "ConsecutiveFailures": {
      const error = checkInteger(`${path}.threshold`, trip.threshold)
      return error === undefined
        ? Either.right({ _tag: "ConsecutiveFailures", threshold: trip.threshold })
        : Either.left(error)
    }

    case "FailureRate":
    case "SlowCallRate": {
      const thresholdError = checkFraction(`${path}.threshold`, trip.threshold)
      if (thresholdError !== undefined) return Either.left(thresholdError)
      const minimumCallsError = checkInteger(`${path}.minimumCalls`, trip.minimumCalls)
      if (minimumCallsError !== undefined) return Either.left(minimumCallsError)
      const window = resolveWindow(`${path}.window`, trip.window)
      if (Either.isLeft(window)) return Either.left(window.left)
      if (window.right._tag === "Calls" && trip.minimumCalls > window.right.size) {
        return Either.left(
          invalid(`${path}.minimumCalls`, trip.minimumCalls, `at most the window size (${window.right.size})`)
        )
      }

      if (trip._tag === "FailureRate") {
        return Either.right({
          _tag: "FailureRate",
          threshold: trip.threshold,
          minimumCalls: trip.minimumCalls,
          window: window.right
        })
      }

      const slowCall = decodeDuration(`${path}.slowCallDuration`, trip.slowCallDuration)
      if (Either.isLeft(slowCall)) return Either.left(slowCall.left)
      return Either.right({
        _tag: "SlowCallRate",
        threshold: trip.threshold,
        minimumCalls: trip.minimumCalls,
        slowCallMillis: Duration.toMillis(slowCall.right),
        window: window.right
      })
    }

    default:
      return Either.left(
        invalid(path, value, 'a trip policy whose _tag is "ConsecutiveFailures", "FailureRate" or "SlowCallRate"')
      )
  }
}

const resolveTrips = (input: Record<string, unknown>): Either.Either<ReadonlyArray<Machine.Trip>, string> => {
  const { failureThreshold, policy } = input
  if (policy !== undefined && failureThreshold !== undefined) {
    return Either.left(
      invalid(
        "failureThreshold",
        failureThreshold,
        "no value when policy is set; use CircuitBreaker.consecutiveFailures in the policy instead"
      )
    )
  }

  if (policy === undefined) {
    const error =
      failureThreshold === undefined
        ? invalid("failureThreshold", failureThreshold, "an integer of at least 1, or a policy option instead")
        : checkInteger("failureThreshold", failureThreshold)
    return error === undefined
      ? Either.right([{ _tag: "ConsecutiveFailures", threshold: failureThreshold as number }])
      : Either.left(error)
  }

  const list: ReadonlyArray<unknown> = Array.isArray(policy) ? policy : [policy]
  if (list.length === 0) {
    return Either.left(invalid("policy", policy, "a trip policy or a non-empty array of them"))
  }

  const trips: Array<Machine.Trip> = []
  for (let index = 0; index < list.length; index++) {
    const trip = resolveTrip(Array.isArray(policy) ? `policy[${index}]` : "policy", list[index])
    if (Either.isLeft(trip)) return Either.left(trip.left)
    trips.push(trip.right)
  }
  return Either.right(trips)
}

const optionalDuration = (option: string, value: unknown): Either.Either<Duration.Duration | undefined, string> =>
  value === undefined ? Either.right(undefined) : decodeDuration(option, value)

/**
 * Validates user options and fills in defaults. The left side is a message naming the option, the value it got and
 * the allowed range.
 *
 * @internal
 */
export const resolve = (options: unknown): Either.Either<ResolvedOptions, string> => {
  if (typeof options !== "object" || options === null) {
    return Either.left(
      `Invalid circuit breaker options: expected an object with failureThreshold (or policy) and cooldown, got ${describe(options)}`
    )
  }

  const input = options as Record<string, unknown>
  const name = input.name === undefined ? defaultName : input.name
  if (typeof name !== "string" || name.length === 0) {
    return Either.left(invalid("name", name, "a non-empty string"))
  }

  const trips = resolveTrips(input)
  if (Either.isLeft(trips)) return Either.left(trips.left)

  const successThreshold = input.successThreshold === undefined ? 1 : input.successThreshold
  const successError = checkInteger("successThreshold", successThreshold)
  if (successError !== undefined) return Either.left(successError)

  let cooldown: Duration.Duration | Schedule.Schedule<unknown, unknown, never>
  if (Schedule.isSchedule(input.cooldown)) {
    cooldown = input.cooldown as Schedule.Schedule<unknown, unknown, never>
  } else {
    const decoded = decodeDuration("cooldown", input.cooldown)
    if (Either.isLeft(decoded)) return Either.left(decoded.left)
    cooldown = decoded.right
  }

  const maxCooldown = optionalDuration("maxCooldown", input.maxCooldown)
  if (Either.isLeft(maxCooldown)) return Either.left(maxCooldown.left)
  let maxCooldownMillis: number
  if (maxCooldown.right !== undefined) {
    maxCooldownMillis = Duration.toMillis(maxCooldown.right)
    if (Duration.isDuration(cooldown) && maxCooldownMillis < Duration.toMillis(cooldown)) {
      return Either.left(
        invalid(
          "maxCooldown",
          Duration.format(maxCooldown.right),
          `at least the cooldown (${Duration.format(cooldown)})`
        )
      )
    }
  } else {
    const base = Duration.isDuration(cooldown) ? Duration.toMillis(cooldown) : 0
    maxCooldownMillis = Math.max(Duration.toMillis(defaultMaxCooldown), base)
  }

  const callTimeout = optionalDuration("callTimeout", input.callTimeout)
  if (Either.isLeft(callTimeout)) return Either.left(callTimeout.left)
  const trialTimeout = optionalDuration("trialTimeout", input.trialTimeout)
  if (Either.isLeft(trialTimeout)) return Either.left(trialTimeout.left)

  const isFailure = input.isFailure
  if (isFailure !== undefined && typeof isFailure !== "function") {
    return Either.left(invalid("isFailure", isFailure, "a function from the error to a boolean"))
  }

  const mode = input.mode === undefined ? "Enabled" : input.mode
  if (mode !== "Enabled" && mode !== "Disabled") {
    return Either.left(invalid("mode", mode, '"Enabled" or "Disabled"'))
  }

  const durationMetric = input.durationMetric === undefined ? false : input.durationMetric
  if (typeof durationMetric !== "boolean") {
    return Either.left(invalid("durationMetric", durationMetric, "true or false"))
  }

  return Either.right({
    name,
    durationMetric,
    isFailure: isFailure as ((error: unknown) => boolean) | undefined,
    trips: trips.right,
    successThreshold: successThreshold as number,
    cooldown,
    maxCooldownMillis,
    callTimeoutMillis: callTimeout.right === undefined ? undefined : Duration.toMillis(callTimeout.right),
    trialTimeoutMillis: Duration.toMillis(trialTimeout.right ?? callTimeout.right ?? defaultTrialTimeout),
    mode
  })
}

/**
 * Computes the policy the machine applies, running the cooldown `Schedule`, if any, to fill the table of cooldowns
 * per opening. A schedule that ends early leaves its last delay for every later opening.
 *
 * @internal
 */
export const buildPolicy = (options: ResolvedOptions): Effect.Effect<Machine.Policy> => {
  const make = (cooldowns: ReadonlyArray<number>): Machine.Policy => {
    const closed = Machine.initialFor(options.trips)
    const initial: Machine.MachineState =
      options.mode === "Disabled" ? { _tag: "Disabled", generation: 0, since: 0 } : closed
    return {
      trips: options.trips,
      successThreshold: options.successThreshold,
      cooldowns,
      maxCooldownMillis: options.maxCooldownMillis,
      initial,
      closed
    }
  }

  const cooldown = options.cooldown
  if (Duration.isDuration(cooldown)) {
    return Effect.succeed(make([Duration.toMillis(cooldown)]))
  }

  return Effect.gen(function* () {
    // Stepping the schedule by hand, rather than with `Schedule.run`, leaves out the output of its final Done step,
    // which carries no delay.
    const cooldowns: Array<number> = []
    let state: unknown = cooldown.initial
    let now = 0
    while (cooldowns.length < cooldownTableSize) {
      const [next, , decision] = yield* cooldown.step(now, undefined, state)
      if (ScheduleDecision.isDone(decision)) break
      const start = Intervals.start(decision.intervals)
      cooldowns.push(Math.max(0, start - now))
      state = next
      now = Math.max(now, start)
    }
    // A schedule that ends at once still needs a cooldown: the cap is the only bound left.
    return make(cooldowns.length === 0 ? [options.maxCooldownMillis] : cooldowns)
  })
}

/**
 * The options of a keyed breaker, after validation and defaults.
 *
 * @internal
 */
export interface ResolvedKeyedOptions extends ResolvedOptions {
  readonly idleTimeToLiveMillis: number
  readonly maxKeys: number
  readonly metricsByKey: boolean
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

    const metricsByKey = input.metricsByKey === undefined ? false : input.metricsByKey
    if (typeof metricsByKey !== "boolean") {
      return Either.left(invalid("metricsByKey", metricsByKey, "true or false"))
    }

    return Either.right({
      ...base,
      idleTimeToLiveMillis: Duration.toMillis(idleTimeToLive.right),
      maxKeys: maxKeys as number,
      metricsByKey
    })
  })

/**
 * Returns the option a validation message names, for the path of a `ConfigError`.
 *
 * @internal
 */
export const optionNameOf = (message: string): string =>
  /^Invalid circuit breaker option ([\w.[\]]+):/.exec(message)?.[1] ?? ""
