/**
 * The scenario of a replay: how the upstream behaves in each phase, how the workers call it, how the breaker is
 * configured, and how fast scenario time runs against wall time.
 *
 * All durations are in scenario seconds. A replay runs `timeScale` scenario seconds per wall second, so a 22-minute
 * outage at a time scale of 100 takes 13.2 wall seconds.
 *
 * @since 0.1.0
 */
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"

const mustBe = (allowed: string) => ({
  message: () => ({ message: `must be ${allowed}`, override: true })
})

// Without `override`, the message replaces only the struct's own "expected an object" issue, not its fields' issues.
const objectMessage = { message: () => "must be a JSON object" }

const positiveSeconds = Schema.Finite.pipe(Schema.greaterThan(0)).annotations(mustBe("a number of seconds above 0"))

const nonNegativeSeconds = Schema.Finite.pipe(Schema.greaterThanOrEqualTo(0)).annotations(
  mustBe("a number of seconds, 0 or more")
)

const positiveRate = Schema.Finite.pipe(Schema.greaterThan(0)).annotations(mustBe("a number above 0"))

const integerBetween = (min: number, max: number) =>
  Schema.Int.pipe(Schema.between(min, max)).annotations(mustBe(`an integer from ${min} to ${max}`))

const fraction = (allowed: string) => Schema.Finite.pipe(Schema.between(0, 1)).annotations(mustBe(allowed))

const nonEmptyString = Schema.String.pipe(Schema.minLength(1)).annotations(mustBe("a non-empty string"))

/**
 * The lengths of the three phases: the upstream is healthy, then degraded (most requests fail with a 5xx), then
 * recovered but limited in capacity.
 *
 * @example
 * ```ts
 * import { Scenario } from "@effect-resilience/outage-lab"
 *
 * const phases: Scenario.Phases = { healthySeconds: 60, degradedSeconds: 1320, recoveredSeconds: 900 }
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const Phases = Schema.Struct({
  healthySeconds: nonNegativeSeconds,
  degradedSeconds: positiveSeconds,
  recoveredSeconds: positiveSeconds
}).annotations(objectMessage)

/**
 * @example
 * ```ts
 * import type { Scenario } from "@effect-resilience/outage-lab"
 *
 * type Example = Scenario.Phases
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Phases extends Schema.Schema.Type<typeof Phases> {}

/**
 * The recovered upstream's rate limit: a request is admitted when fewer than `requestsPerWindow` requests arrived in
 * the last `windowSeconds`. Every request counts, including those rejected with a 429. A 429 carries `Retry-After`: the
 * whole seconds until the window would admit a request again.
 *
 * @example
 * ```ts
 * import { Scenario } from "@effect-resilience/outage-lab"
 *
 * // About 4 requests a second, counted over the last minute as an LLM API's requests-per-minute limit is.
 * const capacity: Scenario.Capacity = { requestsPerWindow: 240, windowSeconds: 60 }
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const Capacity = Schema.Struct({
  requestsPerWindow: integerBetween(1, 1_000_000),
  windowSeconds: positiveSeconds
}).annotations(objectMessage)

/**
 * @example
 * ```ts
 * import type { Scenario } from "@effect-resilience/outage-lab"
 *
 * type Example = Scenario.Capacity
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Capacity extends Schema.Schema.Type<typeof Capacity> {}

/**
 * The upstream's latencies and error statuses. Each latency is stretched or shrunk by a factor drawn uniformly from
 * `1 - latencyJitter` to `1 + latencyJitter`.
 *
 * @example
 * ```ts
 * import { Scenario } from "@effect-resilience/outage-lab"
 *
 * const upstream: Scenario.UpstreamBehaviour = {
 *   successLatencySeconds: 0.8,
 *   errorLatencySeconds: 0.2,
 *   rateLimitLatencySeconds: 0.05,
 *   latencyJitter: 0.25,
 *   degradedErrorRate: 0.9,
 *   degradedStatus: 503,
 *   capacity: { requestsPerWindow: 240, windowSeconds: 60 }
 * }
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const UpstreamBehaviour = Schema.Struct({
  successLatencySeconds: positiveSeconds,
  errorLatencySeconds: positiveSeconds,
  rateLimitLatencySeconds: positiveSeconds,
  latencyJitter: Schema.Finite.pipe(Schema.greaterThanOrEqualTo(0), Schema.lessThan(1)).annotations(
    mustBe("a number from 0 up to, but not including, 1")
  ),
  degradedErrorRate: fraction("a fraction from 0 to 1"),
  degradedStatus: integerBetween(500, 599),
  capacity: Capacity
}).annotations(objectMessage)

/**
 * @example
 * ```ts
 * import type { Scenario } from "@effect-resilience/outage-lab"
 *
 * type Example = Scenario.UpstreamBehaviour
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface UpstreamBehaviour extends Schema.Schema.Type<typeof UpstreamBehaviour> {}

/**
 * The workers and their retry policy. Every worker retries a failed call (a 5xx, a 429 or a transport error)
 * `maxRetries` times, `retrySpacingSeconds` apart, and ignores `Retry-After`. A task whose calls all fail goes back
 * into the backlog, until `taskDeadlineSeconds` after its arrival: a task past its deadline is abandoned.
 *
 * @example
 * ```ts
 * import { Scenario } from "@effect-resilience/outage-lab"
 *
 * const workers: Scenario.Workers = {
 *   count: 6,
 *   taskArrivalsPerSecond: 2.2,
 *   retrySpacingSeconds: 0.15,
 *   maxRetries: 5,
 *   rejectionPauseSeconds: 2,
 *   taskDeadlineSeconds: 300
 * }
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const Workers = Schema.Struct({
  count: integerBetween(1, 64),
  taskArrivalsPerSecond: positiveRate,
  retrySpacingSeconds: nonNegativeSeconds,
  maxRetries: integerBetween(0, 100),
  /** The shortest wait of a worker whose call the breaker rejected. A longer `retryAfter` in the rejection wins. */
  rejectionPauseSeconds: positiveSeconds,
  /**
   * How long after its arrival a task is given up: no attempt for it starts later, and it is dropped from the backlog.
   * An attempt already running when the deadline passes is allowed to finish.
   */
  taskDeadlineSeconds: positiveSeconds
}).annotations(objectMessage)

/**
 * @example
 * ```ts
 * import type { Scenario } from "@effect-resilience/outage-lab"
 *
 * type Example = Scenario.Workers
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Workers extends Schema.Schema.Type<typeof Workers> {}

/**
 * The breaker of the second run, shared by all workers: the HTTP module's breaker around every attempt. Its trip
 * policy is chosen when the replay runs; `failureThreshold` is the threshold of the `consecutive` policy. A 429's
 * `Retry-After` can lengthen a cooldown beyond `cooldownSeconds`.
 *
 * @example
 * ```ts
 * import { Scenario } from "@effect-resilience/outage-lab"
 *
 * const breaker: Scenario.Breaker = { failureThreshold: 5, successThreshold: 1, cooldownSeconds: 30 }
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const Breaker = Schema.Struct({
  failureThreshold: integerBetween(1, 10_000),
  successThreshold: integerBetween(1, 10_000),
  cooldownSeconds: positiveSeconds
}).annotations(objectMessage)

/**
 * @example
 * ```ts
 * import type { Scenario } from "@effect-resilience/outage-lab"
 *
 * type Example = Scenario.Breaker
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Breaker extends Schema.Schema.Type<typeof Breaker> {}

const ScenarioFields = Schema.Struct({
  name: nonEmptyString,
  description: Schema.String.annotations(mustBe("a string")),
  seed: integerBetween(0, 4_294_967_295),
  timeScale: Schema.Finite.pipe(Schema.greaterThan(0), Schema.lessThanOrEqualTo(1000)).annotations(
    mustBe("a number above 0 and at most 1000 (scenario seconds per wall second)")
  ),
  phases: Phases,
  upstream: UpstreamBehaviour,
  workers: Workers,
  breaker: Breaker,
  recoveryWindowSeconds: positiveSeconds
}).annotations(objectMessage)

/**
 * A whole scenario, as read from a JSON file. Unknown fields are rejected, so a misspelt field cannot silently fall
 * back to nothing.
 *
 * @example
 * ```ts
 * import { Scenario } from "@effect-resilience/outage-lab"
 * import { Schema } from "effect"
 *
 * const shorter = Schema.decodeUnknownEither(Scenario.Scenario)({
 *   ...Scenario.defaultScenario,
 *   phases: { healthySeconds: 30, degradedSeconds: 300, recoveredSeconds: 300 }
 * })
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const Scenario = ScenarioFields.pipe(
  Schema.filter((scenario) =>
    scenario.recoveryWindowSeconds <= scenario.phases.recoveredSeconds
      ? undefined
      : {
          path: ["recoveryWindowSeconds"],
          message: `must be at most phases.recoveredSeconds (${scenario.phases.recoveredSeconds}), so that at least one window fits after the recovery`
        }
  )
)

/**
 * @example
 * ```ts
 * import type { Scenario } from "@effect-resilience/outage-lab"
 *
 * type Example = Scenario.Scenario
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Scenario extends Schema.Schema.Type<typeof Scenario> {}

/**
 * The incident this lab replays. Six workers call an LLM API and retry every 5xx and 429 at once. The API fails most
 * requests with a 503 for 22 minutes. When it recovers it admits 240 requests in any 60 seconds, and counts the
 * requests it turns away with a 429 against that limit. Tasks are given up 3 minutes after they arrive.
 *
 * The figures were chosen so that the run without a breaker wastes about 18,000 calls during the outage on an idle
 * 2-core machine, as in the incident.
 *
 * @example
 * ```ts
 * import { Scenario } from "@effect-resilience/outage-lab"
 *
 * const outageMinutes = Scenario.defaultScenario.phases.degradedSeconds / 60 // 22
 * ```
 *
 * @since 0.1.0
 * @category scenarios
 */
export const defaultScenario: Scenario = {
  name: "llm-api-partial-outage",
  description:
    "Six workers call an LLM API that fails most requests for 22 minutes, then recovers with a requests-per-minute limit.",
  seed: 20_240_611,
  timeScale: 110,
  phases: { healthySeconds: 30, degradedSeconds: 1320, recoveredSeconds: 1200 },
  upstream: {
    successLatencySeconds: 0.8,
    errorLatencySeconds: 0.2,
    rateLimitLatencySeconds: 0.05,
    latencyJitter: 0.25,
    degradedErrorRate: 0.95,
    degradedStatus: 503,
    capacity: { requestsPerWindow: 240, windowSeconds: 60 }
  },
  workers: {
    count: 6,
    taskArrivalsPerSecond: 1.7,
    retrySpacingSeconds: 0,
    maxRetries: 5,
    rejectionPauseSeconds: 2,
    taskDeadlineSeconds: 180
  },
  breaker: { failureThreshold: 5, successThreshold: 1, cooldownSeconds: 30 },
  recoveryWindowSeconds: 30
}

/**
 * The failure to load a scenario. The message is one line naming the file, the field, the value and what is allowed.
 *
 * @example
 * ```ts
 * import { Scenario } from "@effect-resilience/outage-lab"
 * import { Console, Effect } from "effect"
 *
 * const report = (error: Scenario.ScenarioError) => Console.error(error.message)
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class ScenarioError extends Data.TaggedError("ScenarioError")<{
  readonly message: string
}> {}

const describeValue = (value: unknown): string => {
  if (value === undefined) {
    return "missing"
  }
  const json = JSON.stringify(value)
  return json.length > 60 ? `${json.slice(0, 57)}...` : json
}

const valueAt = (input: unknown, path: ReadonlyArray<PropertyKey>): unknown => {
  let current = input
  for (const key of path) {
    if (typeof current !== "object" || current === null) {
      return undefined
    }
    current = (current as Record<PropertyKey, unknown>)[key]
  }
  return current
}

const describeIssue = (input: unknown, issue: ParseResult.ArrayFormatterIssue): string => {
  const field = issue.path.length === 0 ? "the scenario" : issue.path.map(String).join(".")
  switch (issue._tag) {
    case "Missing":
      return `${field} is missing`
    case "Unexpected":
      return `${field} is not a known field`
    default: {
      const value = valueAt(input, issue.path)
      return `${field} is ${describeValue(value)} but ${issue.message}`
    }
  }
}

// A file with many mistakes still gets a message of one readable line.
const shownIssues = 3

/**
 * Validates a parsed JSON value as a scenario. `source` names where the value came from, for the message.
 *
 * @example
 * ```ts
 * import { Scenario } from "@effect-resilience/outage-lab"
 * import { Either } from "effect"
 *
 * const result = Scenario.decode({ ...Scenario.defaultScenario, seed: -1 }, "inline")
 * if (Either.isLeft(result)) {
 *   console.error(result.left.message) // Invalid scenario in inline: seed is -1 but must be an integer from 0 to ...
 * }
 * ```
 *
 * @since 0.1.0
 * @category decoding
 */
export const decode = (input: unknown, source: string): Either.Either<Scenario, ScenarioError> =>
  Schema.decodeUnknownEither(Scenario, { errors: "all", onExcessProperty: "error" })(input).pipe(
    Either.mapLeft((error) => {
      const issues = ParseResult.ArrayFormatter.formatErrorSync(error)
      const described = issues.slice(0, shownIssues).map((issue) => describeIssue(input, issue))
      const detail = described.length === 0 ? error.message : described.join("; ")
      const hidden = issues.length - described.length
      let more = ""
      if (hidden === 1) more = " (and 1 more problem)"
      if (hidden > 1) more = ` (and ${hidden} more problems)`
      return new ScenarioError({ message: `Invalid scenario in ${source}: ${detail}${more}` })
    })
  )

/**
 * Reads, parses and validates a scenario file. A relative path is resolved against `cwd`.
 *
 * @example
 * ```ts
 * import { Scenario } from "@effect-resilience/outage-lab"
 * import { NodeContext } from "@effect/platform-node"
 * import { Effect } from "effect"
 *
 * const scenario = Scenario.load("scenarios/short-outage.json", process.cwd()).pipe(Effect.provide(NodeContext.layer))
 * ```
 *
 * @since 0.1.0
 * @category decoding
 */
export const load = (
  file: string,
  cwd: string
): Effect.Effect<Scenario, ScenarioError, FileSystem.FileSystem | Path.Path> =>
  Effect.gen(function* () {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const absolute = path.resolve(cwd, file)

    const text = yield* fs.readFileString(absolute).pipe(
      Effect.mapError((error) => {
        const reason =
          error._tag !== "SystemError"
            ? error.message
            : error.reason === "NotFound"
              ? "file not found"
              : error.reason === "PermissionDenied"
                ? "permission denied"
                : /EISDIR/.test(error.description ?? "")
                  ? "it is a directory; give the path of a scenario JSON file"
                  : (error.description ?? error.reason)
        return new ScenarioError({ message: `Cannot read scenario file ${absolute}: ${reason}` })
      })
    )

    const json = yield* Effect.try({
      try: () => JSON.parse(text) as unknown,
      catch: (error) =>
        new ScenarioError({
          message: `Invalid JSON in scenario file ${absolute}: ${error instanceof Error ? error.message : String(error)}`
        })
    })

    return yield* decode(json, absolute)
  })
