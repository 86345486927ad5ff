/**
 * The breaker Closed and every call succeeding: `protect` on a synchronous and on an asynchronous effect against the
 * same loop without it, and cockatiel, opossum and Effect 4's breaker on the same asynchronous work.
 */
import * as Effect from "effect/Effect"
import * as Effect4 from "effect4/Effect"
import { closedOptions, expectState, makeBreaker, makeCockatiel, makeEffect4, makeOpossum } from "../Breakers.js"
import type { Config } from "../Config.js"
import { repeat, repeat4, repeatAsync, resolvedWork, runPromise } from "../Loops.js"
import { type TimedTask, timePerCall } from "../Measure.js"
import type { Row, Section } from "../Report.js"
import * as RowIds from "../RowIds.js"
import * as Steps from "../Steps.js"

export const title = "Closed breaker, every call succeeds (ns per call)"

export const run = async (config: Config): Promise<Section> => {
  const calls = config.timing.callsPerSample
  const breaker = await makeBreaker(closedOptions)
  const effect4 = await makeEffect4(5, 60_000)
  const cockatiel = makeCockatiel(5, 60_000)
  const opossum = makeOpossum(resolvedWork, false)
  const opossumTimeout = makeOpossum(resolvedWork, 10_000)

  const succeed = Effect.succeed(1)
  const promise = Effect.promise(resolvedWork)
  const succeed4 = Effect4.succeed(1)
  const promise4 = Effect4.promise(resolvedWork)
  const key4 = { key: "bench" }

  const rows: Array<Omit<Row, "value"> & { readonly task: TimedTask["run"] }> = [
    {
      id: RowIds.bareSync,
      name: "Effect 3 loop: bare Effect.succeed",
      unit: "ns/call",
      task: () => runPromise(repeat(calls, () => succeed))
    },
    {
      id: RowIds.protectSync,
      name: "Effect 3 loop: protect(Effect.succeed)",
      unit: "ns/call",
      baseline: RowIds.bareSync,
      task: () => runPromise(repeat(calls, () => breaker.value.protect(succeed)))
    },
    {
      id: RowIds.closedSteps,
      name: "Effect 3 loop: the Effect steps of protect alone, no breaker",
      unit: "ns/call",
      baseline: RowIds.bareSync,
      task: () => runPromise(repeat(calls, () => Steps.closedCall(succeed)))
    },
    {
      id: RowIds.bareAsync,
      name: "Effect 3 loop: bare Effect.promise",
      unit: "ns/call",
      task: () => runPromise(repeat(calls, () => promise))
    },
    {
      id: RowIds.protectAsync,
      name: "Effect 3 loop: protect(Effect.promise)",
      unit: "ns/call",
      baseline: RowIds.bareAsync,
      task: () => runPromise(repeat(calls, () => breaker.value.protect(promise)))
    },
    {
      id: RowIds.barePromise,
      name: "async loop: bare await of a resolved Promise",
      unit: "ns/call",
      task: () => repeatAsync(calls, resolvedWork)
    },
    {
      id: RowIds.cockatielAsync,
      name: "cockatiel execute, ConsecutiveBreaker(5)",
      unit: "ns/call",
      baseline: RowIds.barePromise,
      task: () => repeatAsync(calls, () => cockatiel.execute(resolvedWork))
    },
    {
      id: RowIds.opossumAsync,
      name: "opossum fire, timeout off",
      unit: "ns/call",
      baseline: RowIds.barePromise,
      task: () => repeatAsync(calls, () => opossum.fire())
    },
    {
      id: RowIds.opossumAsyncTimeout,
      name: "opossum fire, 10 s timeout (its default)",
      unit: "ns/call",
      baseline: RowIds.barePromise,
      task: () => repeatAsync(calls, () => opossumTimeout.fire())
    },
    {
      id: RowIds.effect4BareSync,
      name: "Effect 4 loop: bare Effect.succeed",
      unit: "ns/call",
      task: () => Effect4.runPromise(repeat4(calls, () => succeed4))
    },
    {
      id: RowIds.effect4Sync,
      name: "Effect 4 loop: CircuitBreaker execute(Effect.succeed)",
      unit: "ns/call",
      baseline: RowIds.effect4BareSync,
      task: () => Effect4.runPromise(repeat4(calls, () => effect4.value.execute(succeed4, key4)))
    },
    {
      id: RowIds.effect4BareAsync,
      name: "Effect 4 loop: bare Effect.promise",
      unit: "ns/call",
      task: () => Effect4.runPromise(repeat4(calls, () => promise4))
    },
    {
      id: RowIds.effect4Async,
      name: "Effect 4 loop: CircuitBreaker execute(Effect.promise)",
      unit: "ns/call",
      baseline: RowIds.effect4BareAsync,
      task: () => Effect4.runPromise(repeat4(calls, () => effect4.value.execute(promise4, key4)))
    }
  ]

  try {
    const medians = await timePerCall(
      rows.map((row) => ({ id: row.id, callsPerSample: calls, run: row.task })),
      config.timing
    )
    await expectState(breaker.value, "Closed")
    return {
      title,
      rows: rows.map(({ task: _task, ...row }) => ({ ...row, value: medians.get(row.id)! }))
    }
  } finally {
    opossum.shutdown()
    opossumTimeout.shutdown()
    await effect4.close()
    await breaker.close()
  }
}
