import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, FastCheck } from "effect"
import { Command, Redis } from "ioredis"
import * as Machine from "../../circuit-breaker/src/internal/machine.js"
import * as Codec from "../src/internal/codec.js"
import * as Connection from "../src/internal/connection.js"
import { useRedisServer } from "./utils.js"

// Random operation sequences go to the TypeScript machine and to the Lua script on a real Redis. Every step must give
// the same state, admission, transition and trial lease on both sides.

const redis = useRedisServer({ beforeAll, afterAll })
let client: Redis
let connection: Connection.Connection

beforeAll(() => {
  client = new Redis(redis.current().url)
  connection = Connection.make(client, Command, 5_000)
})
afterAll(async () => {
  await client.quit()
})

const windowSpec: FastCheck.Arbitrary<
  Machine.Trip extends infer T ? (T extends { window: infer W } ? W : never) : never
> = FastCheck.oneof(
  FastCheck.record({ _tag: FastCheck.constant("Calls" as const), size: FastCheck.integer({ min: 1, max: 6 }) }),
  FastCheck.record({
    _tag: FastCheck.constant("Time" as const),
    durationMillis: FastCheck.constantFrom(300, 1_000, 1_500, 2_500),
    buckets: FastCheck.constantFrom(1, 2, 3, 7)
  })
)

const fraction = FastCheck.constantFrom(0.2, 0.25, 1 / 3, 0.5, 0.6, 0.75, 1)

const trip: FastCheck.Arbitrary<Machine.Trip> = FastCheck.oneof(
  FastCheck.record({
    _tag: FastCheck.constant("ConsecutiveFailures" as const),
    threshold: FastCheck.integer({ min: 1, max: 4 })
  }),
  FastCheck.record({
    _tag: FastCheck.constant("FailureRate" as const),
    threshold: fraction,
    minimumCalls: FastCheck.integer({ min: 1, max: 4 }),
    window: windowSpec
  }),
  FastCheck.record({
    _tag: FastCheck.constant("SlowCallRate" as const),
    threshold: fraction,
    minimumCalls: FastCheck.integer({ min: 1, max: 4 }),
    slowCallMillis: FastCheck.constantFrom(10, 50, 100, 2.5),
    window: windowSpec
  })
)

const policy: FastCheck.Arbitrary<Machine.Policy> = FastCheck.record({
  trips: FastCheck.array(trip, { minLength: 1, maxLength: 3 }),
  successThreshold: FastCheck.integer({ min: 1, max: 3 }),
  cooldowns: FastCheck.array(FastCheck.constantFrom(100, 400, 1_000, 2_000, 1_234.5), { minLength: 1, maxLength: 4 }),
  maxCooldownMillis: FastCheck.constantFrom(500, 1_500, 5_000),
  disabled: FastCheck.boolean()
}).map(({ trips, successThreshold, cooldowns, maxCooldownMillis, disabled }) => {
  const closed = Machine.initialFor(trips)
  const initial: Machine.MachineState = disabled ? { _tag: "Disabled", generation: 0, since: 0 } : closed
  return { trips, successThreshold, cooldowns, maxCooldownMillis, initial, closed }
})

type Event =
  | { readonly _tag: "Admit" }
  | {
      readonly _tag: "Record"
      readonly ticket: number
      readonly outcome: Machine.Outcome
      readonly durationMillis: number
      readonly minCooldownMillis: number
    }
  | { readonly _tag: "Elapse"; readonly millis: number }
  | { readonly _tag: "Timer"; readonly stale: boolean }
  | { readonly _tag: "Observe" }
  | { readonly _tag: "Command"; readonly command: Machine.Command }
  | { readonly _tag: "Renew"; readonly ticket: number }

const event: FastCheck.Arbitrary<Event> = FastCheck.oneof(
  { arbitrary: FastCheck.constant<Event>({ _tag: "Admit" }), weight: 20 },
  {
    arbitrary: FastCheck.record({
      _tag: FastCheck.constant("Record" as const),
      ticket: FastCheck.nat(20),
      outcome: FastCheck.constantFrom<Machine.Outcome>("Success", "Failure", "Failure", "Ignored"),
      durationMillis: FastCheck.constantFrom(0, 5, 20, 60, 150),
      minCooldownMillis: FastCheck.constantFrom(0, 0, 0, 700, 9_000)
    }),
    weight: 20
  },
  {
    arbitrary: FastCheck.record({
      _tag: FastCheck.constant("Elapse" as const),
      millis: FastCheck.integer({ min: 0, max: 1_500 })
    }),
    weight: 6
  },
  {
    arbitrary: FastCheck.record({ _tag: FastCheck.constant("Timer" as const), stale: FastCheck.boolean() }),
    weight: 4
  },
  { arbitrary: FastCheck.constant<Event>({ _tag: "Observe" }), weight: 4 },
  {
    arbitrary: FastCheck.record({
      _tag: FastCheck.constant("Command" as const),
      command: FastCheck.constantFrom<Machine.Command>("Isolate", "Reset", "Disable")
    }),
    weight: 1
  },
  { arbitrary: FastCheck.record({ _tag: FastCheck.constant("Renew" as const), ticket: FastCheck.nat(20) }), weight: 3 }
)

/**
 * The reference: the machine itself, plus the lease that the Redis store adds to it. A lapsed lease frees the trial
 * slot exactly as an ignored trial does, and the next admission takes it.
 */
interface Reference {
  state: Machine.MachineState
  leaseUntil: number
}

const isRunningTrial = (state: Machine.MachineState) => state._tag === "HalfOpen" && state.trialRunning

const applyReference = (
  reference: Reference,
  operation: Codec.ScriptOperation,
  now: number,
  policy: Machine.Policy,
  leaseMillis: number
): { step: Machine.Step<Machine.Admission | undefined>; note: string } => {
  const state = reference.state
  let note = ""
  let step: Machine.Step<Machine.Admission | undefined>
  if (operation._tag === "RenewLease") {
    const holds = isRunningTrial(state) && state.generation === operation.generation
    note = holds ? "renewed" : "stale"
    if (holds) reference.leaseUntil = now + leaseMillis
    return { step: { state, result: undefined, transition: undefined }, note }
  }
  if (operation._tag === "Read") {
    return { step: { state, result: undefined, transition: undefined }, note }
  }

  if (operation._tag === "Admit" && isRunningTrial(state) && now >= reference.leaseUntil) {
    const ignored = { outcome: "Ignored" as const, durationMillis: 0, minCooldownMillis: 0 }
    const freed = Machine.applyOperation(
      state,
      { _tag: "Record", generation: state.generation, call: ignored },
      now,
      policy
    )
    step = Machine.applyOperation(freed.state, operation, now, policy)
    note = "lapsed"
  } else {
    step = Machine.applyOperation(state, operation, now, policy)
  }

  const admission = step.result
  if (admission?.admitted && admission.trial) reference.leaseUntil = now + leaseMillis
  if (!isRunningTrial(step.state)) reference.leaseUntil = Number.POSITIVE_INFINITY
  reference.state = step.state
  return { step, note }
}

let keyCount = 0

const show = (value: unknown) =>
  JSON.stringify(value, (_, v) => (typeof v === "number" && !Number.isFinite(v) ? String(v) : v))

/** Fails with both sides and the step in the message, since fast-check reports only the message of a failure. */
const same = (context: object, label: string, actual: unknown, expected: unknown) => {
  try {
    expect(actual).toEqual(expected)
  } catch {
    throw new Error(`${label} differs at ${show(context)}:\n  script:  ${show(actual)}\n  machine: ${show(expected)}`)
  }
}

const runSequence = async (
  policy: Machine.Policy,
  events: ReadonlyArray<Event>,
  start: number,
  leaseMillis: number
): Promise<Set<string>> => {
  const key = `differential:${++keyCount}`
  const tail = Codec.policyArgs(policy)
  const reference: Reference = { state: policy.initial, leaseUntil: Number.POSITIVE_INFINITY }
  const inFlight: Array<{ generation: number; trial: boolean }> = []
  const trials: Array<number> = []
  const edges = new Set<string>()
  let now = start
  let lastOpening: number | undefined

  const both = async (operation: Codec.ScriptOperation) => {
    const before = reference.state
    const expected = applyReference(reference, operation, now, policy, leaseMillis)
    const raw = await Effect.runPromise(
      connection.run(key, [...Codec.operationArgs(operation, now, leaseMillis, 60_000), ...tail])
    )
    const actual = Codec.decodeReply(raw, policy, now)
    const context = { operation, now, before }
    same(context, "state", actual.step.state, expected.step.state)
    same(context, "result", actual.step.result, expected.step.result)
    same(context, "transition", actual.step.transition, expected.step.transition)
    same(context, "note", actual.note, expected.note)
    same(context, "leaseUntil", actual.leaseUntil, reference.leaseUntil)
    // The untouched Closed state is the policy's own object on both sides: a reset of it reports no transition.
    expect(actual.step.state === policy.closed).toBe(expected.step.state === policy.closed)
    const transition = expected.step.transition
    if (transition !== undefined) edges.add(`${transition.from}->${transition.to}`)
    if (expected.note !== "") edges.add(expected.note)
    if (expected.step.state._tag === "Open") lastOpening = expected.step.state.generation
    return expected.step
  }

  for (const current of events) {
    switch (current._tag) {
      case "Admit": {
        const admission = (await both({ _tag: "Admit" })).result
        if (admission?.admitted) inFlight.push({ generation: admission.generation, trial: admission.trial })
        if (admission?.admitted && admission.trial) trials.push(admission.generation)
        break
      }
      case "Record": {
        const call = inFlight.splice(current.ticket % Math.max(1, inFlight.length), 1)[0]
        if (call === undefined) break
        const { outcome, durationMillis, minCooldownMillis } = current
        await both({
          _tag: "Record",
          generation: call.generation,
          call: { outcome, durationMillis, minCooldownMillis }
        })
        break
      }
      case "Elapse":
        now += current.millis
        break
      case "Timer":
        if (lastOpening !== undefined) {
          await both({ _tag: "CooldownElapsed", generation: current.stale ? lastOpening - 1 : lastOpening })
        }
        break
      case "Observe":
        await both({ _tag: "Observe" })
        break
      case "Command":
        await both({ _tag: "Command", command: current.command })
        break
      case "Renew": {
        // Any trial admitted so far, finished or not: a renewal may race with its trial's outcome.
        const generation = trials[current.ticket % Math.max(1, trials.length)]
        if (generation !== undefined) await both({ _tag: "RenewLease", generation })
        break
      }
    }
  }
  await both({ _tag: "Read" })
  return edges
}

const automaticEdges = ["Closed->Open", "Open->HalfOpen", "HalfOpen->Open", "HalfOpen->Closed"]

describe("differential", () => {
  it("script matches machine without lease", async () => {
    const seen = new Set<string>()
    await FastCheck.assert(
      FastCheck.asyncProperty(
        policy,
        FastCheck.array(event, { minLength: 10, maxLength: 120, size: "max" }),
        FastCheck.constantFrom(0, 1_733_000_000_000),
        async (policy, events, start) => {
          for (const edge of await runSequence(policy, events, start, Number.POSITIVE_INFINITY)) seen.add(edge)
        }
      ),
      { numRuns: 150, seed: 20_261_204 }
    )
    for (const edge of automaticEdges) expect(seen.has(edge), edge).toBe(true)
  }, 60_000)

  it("script matches machine with lease", async () => {
    const seen = new Set<string>()
    await FastCheck.assert(
      FastCheck.asyncProperty(
        policy,
        FastCheck.array(event, { minLength: 10, maxLength: 120, size: "max" }),
        async (policy, events) => {
          for (const label of await runSequence(policy, events, 1_733_000_000_000, 800)) seen.add(label)
        }
      ),
      { numRuns: 100, seed: 20_261_204 }
    )
    for (const label of ["lapsed", "renewed", "stale", ...automaticEdges]) expect(seen.has(label), label).toBe(true)
  }, 60_000)
})
