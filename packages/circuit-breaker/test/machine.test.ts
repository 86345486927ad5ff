import { describe, expect, it } from "@effect/vitest"
import { FastCheck } from "effect"
import * as Machine from "../src/internal/machine.js"

const trips: ReadonlyArray<Machine.Trip> = [{ _tag: "ConsecutiveFailures", threshold: 3 }]
const closed = Machine.initialFor(trips)
const policy: Machine.Policy = {
  trips,
  successThreshold: 2,
  cooldowns: [1_000],
  maxCooldownMillis: 60_000,
  initial: closed,
  closed
}

const call = (outcome: Machine.Outcome): Machine.CallRecord => ({ outcome, durationMillis: 0, minCooldownMillis: 0 })

const automaticEdges = ["Closed->Open", "Open->HalfOpen", "HalfOpen->Open", "HalfOpen->Closed"]

type Event =
  | { readonly _tag: "Admit" }
  | { readonly _tag: "Record"; readonly ticket: number; readonly outcome: Machine.Outcome }
  | { readonly _tag: "Elapse"; readonly millis: number }
  | { readonly _tag: "Timer" }
  | { readonly _tag: "Observe" }
  | { readonly _tag: "Command"; readonly command: Machine.Command }

// Weighted towards admissions and outcomes, so that most sequences open the breaker and run trials.
const event: FastCheck.Arbitrary<Event> = FastCheck.oneof(
  { arbitrary: FastCheck.constant<Event>({ _tag: "Admit" }), weight: 20 },
  {
    arbitrary: FastCheck.record({
      _tag: FastCheck.constant("Record" as const),
      ticket: FastCheck.nat(20),
      outcome: FastCheck.constantFrom<Machine.Outcome>("Success", "Failure", "Failure", "Ignored")
    }),
    weight: 20
  },
  {
    arbitrary: FastCheck.record({
      _tag: FastCheck.constant("Elapse" as const),
      millis: FastCheck.integer({ min: 0, max: 1_500 })
    }),
    weight: 5
  },
  { arbitrary: FastCheck.constant<Event>({ _tag: "Timer" }), weight: 5 },
  { arbitrary: FastCheck.constant<Event>({ _tag: "Observe" }), weight: 5 },
  {
    arbitrary: FastCheck.record({
      _tag: FastCheck.constant("Command" as const),
      command: FastCheck.constantFrom<Machine.Command>("Isolate", "Reset", "Disable")
    }),
    // Rare, so that most sequences still run through the automatic cycle.
    weight: 1
  }
)

describe("machine", () => {
  it("keeps its invariants on any event sequence", () => {
    const seenEdges = new Set<string>()
    FastCheck.assert(
      FastCheck.property(FastCheck.array(event, { minLength: 10, maxLength: 200, size: "max" }), (events) => {
        let state = Machine.initialFor(trips) as Machine.MachineState
        let now = 0
        let lastOpening: Machine.Open | undefined
        // The first generation of the current HalfOpen period: every trial admitted since has a generation at least
        // this high.
        let halfOpenSince = Number.POSITIVE_INFINITY
        // Calls admitted and not yet finished, each with the generation it was admitted in.
        const inFlight: Array<{ generation: number; trial: boolean }> = []
        const transitions: Array<Machine.MachineTransition> = []

        const apply = (step: Machine.Step<unknown>) => {
          const before = state
          state = step.state
          if (step.transition !== undefined) {
            transitions.push(step.transition)
            expect(step.transition.from).toBe(before._tag)
            expect(step.transition.to).toBe(state._tag)
            expect(step.transition.at).toBe(now)
            expect(state.generation).toBeGreaterThan(before.generation)
            if (state._tag === "HalfOpen") halfOpenSince = before.generation + 1
          } else {
            expect(state._tag).toBe(before._tag)
            expect(state.generation).toBeGreaterThanOrEqual(before.generation)
          }
          if (state._tag === "Open") {
            expect(state.openUntil - state.openedAt).toBe(policy.cooldowns[0])
            lastOpening = state
          }
        }

        for (const current of events) {
          switch (current._tag) {
            case "Admit": {
              const step = Machine.admit(state, now)
              apply(step)
              if (step.result.admitted) {
                inFlight.push({ generation: step.result.generation, trial: step.result.trial })
              } else if (step.result.state === "Open") {
                expect(step.result.retryAfterMillis).toBeGreaterThan(0)
              } else if (step.result.state === "Isolated") {
                expect(step.result.retryAfterMillis).toBe(Number.POSITIVE_INFINITY)
              } else {
                expect(step.result.retryAfterMillis).toBe(0)
              }
              break
            }
            case "Record": {
              const inFlightCall = inFlight.splice(current.ticket % Math.max(1, inFlight.length), 1)[0]
              if (inFlightCall === undefined) break
              const before = state
              const step = Machine.record(state, inFlightCall.generation, call(current.outcome), now, policy)
              apply(step)
              // Fencing: an outcome from an earlier generation never changes the state.
              if (inFlightCall.generation !== before.generation) {
                expect(step.state).toBe(before)
              }
              break
            }
            case "Elapse":
              now += current.millis
              break
            case "Timer":
              if (lastOpening !== undefined && now >= lastOpening.openUntil) {
                apply(Machine.cooldownElapsed(state, lastOpening.generation, now))
              }
              break
            case "Observe":
              apply(Machine.observe(state, now))
              if (state._tag === "Open") expect(now).toBeLessThan(state.openUntil)
              break
            case "Command":
              apply(Machine.command(state, current.command, now, policy))
              break
          }

          if (state._tag === "Closed") {
            expect(state.consecutiveFailures).toBeLessThan(3)
          }
          if (state._tag === "Isolated" || state._tag === "Disabled") {
            // A command bumps the generation, so every call in flight is fenced off from here on.
            halfOpenSince = Number.POSITIVE_INFINITY
          }
          if (state._tag === "HalfOpen") {
            // At most one trial runs in a HalfOpen period, and `trialRunning` is true exactly while one does.
            const running = inFlight.filter((call) => call.trial && call.generation >= halfOpenSince)
            expect(running.length).toBe(state.trialRunning ? 1 : 0)
            expect(state.trialSuccesses).toBeLessThan(policy.successThreshold)
          }
        }

        for (const transition of transitions) seenEdges.add(`${transition.from}->${transition.to}`)
        for (let i = 0; i < transitions.length; i++) {
          const transition = transitions[i]!
          const edge = `${transition.from}->${transition.to}`
          const byCommand =
            transition.to === "Isolated" || transition.to === "Disabled" || transition.reason.includes("operator")
          expect(byCommand || automaticEdges.includes(edge)).toBe(true)
          if (i > 0) expect(transition.from).toBe(transitions[i - 1]!.to)
        }
      }),
      // A fixed seed keeps the coverage check below deterministic.
      { numRuns: 500, seed: 20_261_204 }
    )

    // The generated sequences must reach every automatic edge, or the invariants above were never tested on it.
    for (const edge of automaticEdges) expect(seenEdges.has(edge)).toBe(true)
  })

  it("reads the time only where usesTime says so", () => {
    const rateTrips: ReadonlyArray<Machine.Trip> = [
      { _tag: "ConsecutiveFailures", threshold: 3 },
      {
        _tag: "FailureRate",
        threshold: 0.5,
        minimumCalls: 4,
        window: { _tag: "Time", durationMillis: 2_000, buckets: 4 }
      }
    ]
    const rateClosed = Machine.initialFor(rateTrips)
    const policies = [policy, { ...policy, trips: rateTrips, initial: rateClosed, closed: rateClosed }]
    let timeless = 0
    FastCheck.assert(
      FastCheck.property(
        FastCheck.constantFrom(...policies),
        FastCheck.array(event, { minLength: 10, maxLength: 200, size: "max" }),
        (rules, events) => {
          let state: Machine.MachineState = rules.initial
          let now = 0
          const generations: Array<number> = []
          // With NaN as the time, any rule that read it would leave NaN in the state or change its decision.
          const check = <A>(usesTime: boolean, run: (time: number) => Machine.Step<A>): Machine.Step<A> => {
            const step = run(now)
            if (!usesTime) {
              timeless++
              expect(run(Number.NaN)).toEqual(step)
            }
            return step
          }
          for (const current of events) {
            let operation: Machine.Operation
            switch (current._tag) {
              case "Admit": {
                const withoutSlot = check(Machine.usesTime(state, Machine.admitWithoutSlotOperation), (time) => {
                  const step = Machine.admitWithoutSlot(state, time)
                  return step ?? { state, result: undefined, transition: undefined }
                })
                expect(withoutSlot.state).toBe(state)
                operation = { _tag: "Admit" }
                break
              }
              case "Record": {
                const generation = generations.splice(current.ticket % Math.max(1, generations.length), 1)[0]
                if (generation === undefined) continue
                operation = { _tag: "Record", generation, call: call(current.outcome) }
                break
              }
              case "Elapse":
                now += current.millis
                continue
              case "Timer":
                operation = { _tag: "CooldownElapsed", generation: state.generation }
                break
              case "Observe":
              case "Command":
                operation = current
                break
            }
            const step = check(Machine.usesTime(state, operation), (time) =>
              Machine.applyOperation(state, operation, time, rules)
            )
            state = step.state
            if (step.result?.admitted === true) generations.push(step.result.generation)
          }
        }
      ),
      { numRuns: 300, seed: 20_261_204 }
    )
    // Most admissions and successes in Closed skip the clock; the property is empty if none did.
    expect(timeless).toBeGreaterThan(1_000)
  })

  it("stale timer changes nothing", () => {
    const first = Machine.record(
      Machine.record(Machine.record(closed, 0, call("Failure"), 0, policy).state, 0, call("Failure"), 0, policy).state,
      0,
      call("Failure"),
      0,
      policy
    )
    expect(first.state._tag).toBe("Open")
    const staleGeneration = first.state.generation - 1

    const step = Machine.cooldownElapsed(first.state, staleGeneration, 5_000)

    expect(step.state).toBe(first.state)
    expect(step.transition).toBeUndefined()
  })

  it("unchanged state is the same object", () => {
    const admitted = Machine.admit(closed, 0)
    const recorded = Machine.record(closed, 0, call("Success"), 0, policy)

    expect(admitted.state).toBe(closed)
    expect(recorded.state).toBe(closed)
  })
})
