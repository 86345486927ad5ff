import { assert, describe, expect, it } from "@effect/vitest"
import { CircuitBreaker } from "@effect-resilience/circuit-breaker"
import { Cause, Config, ConfigProvider, Effect, Exit } from "effect"

const valid: CircuitBreaker.Options = { failureThreshold: 5, cooldown: "30 seconds" }

/** Makes a breaker from `options` and returns the defect's message, or undefined when it was made. */
const defectOf = (options: unknown) =>
  Effect.gen(function* () {
    const exit = yield* Effect.exit(CircuitBreaker.make(options as CircuitBreaker.Options))
    if (Exit.isSuccess(exit)) return undefined
    const defect = Cause.dieOption(exit.cause)
    assert.isTrue(defect._tag === "Some", "expected a defect")
    if (defect._tag !== "Some") return undefined
    assert.instanceOf(defect.value, Cause.IllegalArgumentException)
    return (defect.value as Cause.IllegalArgumentException).message
  }).pipe(Effect.scoped)

describe("options", () => {
  const cases: ReadonlyArray<readonly [string, unknown, string]> = [
    [
      "failureThreshold 0",
      { ...valid, failureThreshold: 0 },
      "failureThreshold: expected an integer of at least 1, got 0"
    ],
    [
      "failureThreshold fraction",
      { ...valid, failureThreshold: 2.5 },
      "failureThreshold: expected an integer of at least 1, got 2.5"
    ],
    [
      "failureThreshold NaN",
      { ...valid, failureThreshold: Number.NaN },
      "failureThreshold: expected an integer of at least 1, got NaN"
    ],
    ["failureThreshold Infinity", { ...valid, failureThreshold: Number.POSITIVE_INFINITY }, "got Infinity"],
    [
      "failureThreshold string",
      { ...valid, failureThreshold: "5" },
      'failureThreshold: expected an integer of at least 1, got "5"'
    ],
    [
      "failureThreshold missing",
      { cooldown: "1 second" },
      "failureThreshold: expected an integer of at least 1, or a policy option instead, got undefined"
    ],
    [
      "successThreshold 0",
      { ...valid, successThreshold: 0 },
      "successThreshold: expected an integer of at least 1, got 0"
    ],
    [
      "successThreshold negative",
      { ...valid, successThreshold: -1 },
      "successThreshold: expected an integer of at least 1, got -1"
    ],
    ["cooldown zero", { ...valid, cooldown: 0 }, "cooldown: expected a finite duration above zero"],
    ["cooldown negative", { ...valid, cooldown: -5 }, "got -5"],
    ["cooldown NaN", { ...valid, cooldown: Number.NaN }, "got NaN"],
    ["cooldown infinite", { ...valid, cooldown: "Infinity" }, 'got "Infinity"'],
    [
      "cooldown unparsable",
      { ...valid, cooldown: "soon" },
      'cooldown: expected a finite duration above zero, such as "30 seconds" or a number of milliseconds, got "soon"'
    ],
    ["cooldown zero string", { ...valid, cooldown: "0 seconds" }, 'got "0 seconds"'],
    ["cooldown missing", { failureThreshold: 1 }, "cooldown: expected a finite duration above zero"],
    ["name empty", { ...valid, name: "" }, 'name: expected a non-empty string, got ""'],
    ["name number", { ...valid, name: 7 }, "name: expected a non-empty string, got 7"],
    [
      "isFailure not function",
      { ...valid, isFailure: true },
      "isFailure: expected a function from the error to a boolean, got true"
    ],
    ["name null", { ...valid, name: null }, "name: expected a non-empty string, got null"],
    [
      "successThreshold null",
      { ...valid, successThreshold: null },
      "successThreshold: expected an integer of at least 1, got null"
    ],
    ["options null", null, "expected an object with failureThreshold (or policy) and cooldown, got null"],
    ["durationMetric string", { ...valid, durationMetric: "yes" }, 'durationMetric: expected true or false, got "yes"'],
    ["durationMetric number", { ...valid, durationMetric: 1 }, "durationMetric: expected true or false, got 1"]
  ]

  for (const [title, options, message] of cases) {
    it.effect(`rejects ${title}`, () =>
      Effect.gen(function* () {
        const defect = yield* defectOf(options)
        assert.isDefined(defect, "expected the options to be rejected")
        expect(defect).toContain(message)
        expect(defect).toMatch(/^Invalid circuit breaker option/)
      })
    )
  }

  it.effect("accepts the smallest valid values", () =>
    Effect.gen(function* () {
      expect(yield* defectOf({ failureThreshold: 1, successThreshold: 1, cooldown: 1 })).toBeUndefined()
      expect(yield* defectOf({ failureThreshold: 1, cooldown: "1 nanos" })).toBeUndefined()
    })
  )

  it.effect("layer dies on invalid options", () =>
    Effect.gen(function* () {
      const exit = yield* Effect.exit(
        Effect.provide(CircuitBreaker.state, CircuitBreaker.layer({ ...valid, failureThreshold: 0 }))
      )
      assert.isTrue(Exit.isFailure(exit) && Cause.isDie(exit.cause))
    })
  )
})

describe("layerConfig", () => {
  const fromConfig = (entries: Record<string, string>) =>
    Effect.gen(function* () {
      const layer = CircuitBreaker.layerConfig({
        name: Config.string("NAME"),
        failureThreshold: Config.integer("FAILURE_THRESHOLD"),
        cooldown: Config.duration("COOLDOWN")
      })
      return yield* Effect.exit(
        Effect.provide(CircuitBreaker.state, layer).pipe(
          Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(entries))))
        )
      )
    })

  it.effect("reads options from Config", () =>
    Effect.gen(function* () {
      const exit = yield* fromConfig({ NAME: "payments", FAILURE_THRESHOLD: "3", COOLDOWN: "10 seconds" })
      assert.isTrue(Exit.isSuccess(exit))
      if (Exit.isSuccess(exit)) expect(exit.value).toEqual({ _tag: "Closed", consecutiveFailures: 0 })
    })
  )

  it.effect("fails with ConfigError on invalid value", () =>
    Effect.gen(function* () {
      const exit = yield* fromConfig({ NAME: "payments", FAILURE_THRESHOLD: "0", COOLDOWN: "10 seconds" })
      assert.isTrue(Exit.isFailure(exit))
      if (!Exit.isFailure(exit)) return
      const failure = Cause.failureOption(exit.cause)
      assert.isTrue(failure._tag === "Some")
      if (failure._tag !== "Some") return
      expect(failure.value._op).toBe("InvalidData")
      if (failure.value._op === "InvalidData") expect(failure.value.path).toEqual(["failureThreshold"])
      expect(String(failure.value)).toContain("failureThreshold: expected an integer of at least 1, got 0")
    })
  )

  it.effect("fails with ConfigError on missing value", () =>
    Effect.gen(function* () {
      const exit = yield* fromConfig({ NAME: "payments", COOLDOWN: "10 seconds" })
      assert.isTrue(Exit.isFailure(exit))
      if (!Exit.isFailure(exit)) return
      const failure = Cause.failureOption(exit.cause)
      assert.isTrue(failure._tag === "Some" && failure.value._op === "MissingData")
    })
  )
})
