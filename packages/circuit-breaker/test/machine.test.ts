import { describe, expect, it } from "@effect/vitest"
import { FastCheck } from "effect"
import * as Machine from "../src/internal/machine.js"

const policy: Machine.Policy = { failureThreshold: 3, successThreshold: 2, cooldownMillis: 1_000 }

const allowedEdges = new Set(["Closed->Open", "Open->HalfOpen", "HalfOpen->Open", "HalfOpen->Closed"])

type Event =
  | { readonly _tag: "Admit" }
  | { readonly _tag: "Record"; readonly ticket: number; readonly outcome: Machine.Outcome }
  | { readonly _tag: "Elapse"; readonly millis: number }
  | { readonly _tag: "Timer" }
  | { readonly _tag: "Observe" }

// Weighted towards admissions and outcomes, so that most sequences open the breaker and run trials.
const event: FastCheck.Arbitrary<Event> = FastCheck.oneof(
  { arbitrary: FastCheck.constant<Event>({ _tag: "Admit" }), weight: 4 },
  {
    arbitrary: FastCheck.record({
      _tag: FastCheck.constant("Record" as const),
      ticket: FastCheck.nat(20),
      outcome: FastCheck.constantFrom<Machine.Outcome>("Success", "Failure", "Failure", "Ignored")
    }),
    weight: 4
  },
  {
    arbitrary: FastCheck.record({
      _tag: FastCheck.constant("Elapse" as const),
      millis: FastCheck.integer({ min: 0, max: 1_500 })
    }),
    weight: 1
  },
  { arbitrary: FastCheck.constant<Event>({ _tag: "Timer" }), weight: 1 },
  { arbitrary: FastCheck.constant<Event>({ _tag: "Observe" }), weight: 1 }
)

describe("machine", () => {
  it("keeps its invariants on any event sequence", () => {
    const seenEdges = new Set<string>()
    FastCheck.assert(
      FastCheck.property(FastCheck.array(event, { minLength: 10, maxLength: 200, size: "max" }), (events) => {
        let state = Machine.initial as Machine.MachineState
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
            expect(state.openUntil - state.openedAt).toBe(policy.cooldownMillis)
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
              } else {
                expect(step.result.retryAfterMillis).toBe(0)
              }
              break
            }
            case "Record": {
              const call = inFlight.splice(current.ticket % Math.max(1, inFlight.length), 1)[0]
              if (call === undefined) break
              const before = state
              const step = Machine.record(state, call.generation, current.outcome, now, policy)
              apply(step)
              // Fencing: an outcome from an earlier generation never changes the state.
              if (call.generation !== before.generation) {
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
          }

          if (state._tag === "Closed") {
            expect(state.consecutiveFailures).toBeLessThan(policy.failureThreshold)
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
          expect(allowedEdges.has(`${transition.from}->${transition.to}`)).toBe(true)
          if (i > 0) expect(transition.from).toBe(transitions[i - 1]!.to)
        }
      }),
      { numRuns: 500 }
    )

    // The generated sequences must reach every edge, or the invariants above were never tested on it.
    expect([...seenEdges].sort()).toEqual([...allowedEdges].sort())
  })

  it("stale timer changes nothing", () => {
    const first = Machine.record(
      Machine.record(Machine.record(Machine.initial, 0, "Failure", 0, policy).state, 0, "Failure", 0, policy).state,
      0,
      "Failure",
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
    const admitted = Machine.admit(Machine.initial, 0)
    const recorded = Machine.record(Machine.initial, 0, "Success", 0, policy)

    expect(admitted.state).toBe(Machine.initial)
    expect(recorded.state).toBe(Machine.initial)
  })
})
