/**
 * The keyed breaker with 1, 1,000 and 100,000 keys (fewer in quick runs), every call succeeding. Each key has a
 * stored circuit, because a key in its initial state is not stored and would cost only a map lookup.
 *
 * The breaker drops a circuit whose count of failures returns to zero while it has never opened, so a key that only
 * failed once would be dropped by the first timed success. Each key is therefore opened and closed once before the
 * timed calls, which leaves a Closed circuit that successes keep stored: a key that has recovered from an outage.
 */
import { setTimeout as sleep } from "node:timers/promises"
import type { CircuitBreaker } from "@effect-resilience/circuit-breaker"
import * as Effect from "effect/Effect"
import { makeKeyed, type Scoped } from "../Breakers.js"
import { type Config, formatCount } from "../Config.js"
import { benchError, repeat, runPromise } from "../Loops.js"
import { type TimedTask, timePerCall } from "../Measure.js"
import type { Row, Section } from "../Report.js"
import * as RowIds from "../RowIds.js"

export const title = "Keyed breaker, every call succeeds (ns per call)"

/** Makes `count` keys, each of a length typical of an origin or tenant id. */
export const makeKeys = (count: number): ReadonlyArray<string> =>
  Array.from({ length: count }, (_, index) => `tenant-${index}`)

interface Prepared {
  readonly count: number
  readonly keys: ReadonlyArray<string>
  readonly keyed: Scoped<CircuitBreaker.KeyedCircuitBreaker>
}

const expectStored = async ({ count, keyed }: Prepared): Promise<void> => {
  const stored = await runPromise(keyed.value.size)
  if (stored !== count) throw new Error(`The keyed breaker stores ${stored} circuits, expected ${count}`)
}

/** Makes a keyed breaker whose `count` keys each have a stored, Closed circuit. */
const prepare = async (count: number): Promise<Prepared> => {
  const keys = makeKeys(count)
  const keyed = await makeKeyed(count, { failureThreshold: 1, cooldown: "1 millis" })
  const prepared = { count, keys, keyed }

  // One failure opens each key's circuit for 1 ms; once that has passed, one success per key runs as the trial and
  // closes the circuit.
  await runPromise(repeat(count, (index) => Effect.exit(keyed.value.protect(fail, keys[index]!))))
  await sleep(5)
  await runPromise(repeat(count, (index) => keyed.value.protect(succeed, keys[index]!)))

  await expectStored(prepared)
  for (const key of [keys[0]!, keys[count - 1]!]) {
    const state = await runPromise(keyed.value.state(key))
    if (state._tag !== "Closed") throw new Error(`Key ${key} is ${state._tag} before the timed calls, expected Closed`)
  }
  return prepared
}

const succeed = Effect.succeed(1)
const fail = Effect.fail(benchError)

export const run = async (config: Config): Promise<Section> => {
  const calls = config.timing.callsPerSample
  const prepared: Array<Prepared> = []

  try {
    for (const count of config.keyedCounts) prepared.push(await prepare(count))

    const tasks: Array<TimedTask> = [
      { id: RowIds.keyedBareSync, callsPerSample: calls, run: () => runPromise(repeat(calls, () => succeed)) },
      ...prepared.map(({ count, keys, keyed }): TimedTask => {
        // The calls go round the keys in order, continuing from sample to sample.
        let next = 0
        return {
          id: RowIds.keyedProtect(count),
          callsPerSample: calls,
          run: () =>
            runPromise(
              repeat(calls, () => {
                const key = keys[next]!
                next = next + 1 === count ? 0 : next + 1
                return keyed.value.protect(succeed, key)
              })
            )
        }
      })
    ]
    const medians = await timePerCall(tasks, config.timing)
    for (const entry of prepared) await expectStored(entry)

    return {
      title,
      rows: [
        {
          id: RowIds.keyedBareSync,
          name: "Effect 3 loop: bare Effect.succeed, timed with the keyed rows",
          unit: "ns/call",
          value: medians.get(RowIds.keyedBareSync)!
        },
        ...prepared.map(
          ({ count }): Row => ({
            id: RowIds.keyedProtect(count),
            name: `Effect 3 loop: keyed protect(Effect.succeed), ${formatCount(count)} ${count === 1 ? "key" : "keys"}`,
            unit: "ns/call",
            baseline: RowIds.keyedBareSync,
            value: medians.get(RowIds.keyedProtect(count))!
          })
        )
      ]
    }
  } finally {
    for (const { keyed } of prepared) await keyed.close()
  }
}
