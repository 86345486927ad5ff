/**
 * Calls that the breaker rejects: every call while Open, against a bare failure in the same loop, and the HalfOpen
 * path, where one of many concurrent callers runs as the trial and the others are rejected.
 */
import { setTimeout as sleep } from "node:timers/promises"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Effect4 from "effect4/Effect"
import {
  CockatielState,
  expectState,
  halfOpenOptions,
  makeBreaker,
  makeCockatiel,
  makeEffect4,
  makeOpossum,
  openOptions
} from "../Breakers.js"
import { type Config, formatCount } from "../Config.js"
import { benchError, rejectedWork, repeat, repeat4, repeatAsyncRejected, resolvedWork, runPromise } from "../Loops.js"
import { type TimedTask, timePerCall } from "../Measure.js"
import type { Row, Section } from "../Report.js"
import * as RowIds from "../RowIds.js"
import * as Steps from "../Steps.js"

export const title = "Rejections (ns per call)"

const oneHourMillis = 60 * 60 * 1000

type RowTask = Omit<Row, "value"> & { readonly task: TimedTask["run"] }

const openRows = async (config: Config): Promise<ReadonlyArray<Row>> => {
  const calls = config.timing.callsPerSample
  const breaker = await makeBreaker(openOptions)
  const effect4 = await makeEffect4(1, oneHourMillis)
  const cockatiel = makeCockatiel(1, oneHourMillis)
  const opossum = makeOpossum(resolvedWork, false)

  const fail = Effect.fail(benchError)
  const succeed = Effect.succeed(1)
  const fail4 = Effect4.fail(benchError)
  const succeed4 = Effect4.succeed(1)
  const key4 = { key: "bench" }

  try {
    // One failure opens each breaker for an hour, longer than any run.
    await runPromise(Effect.exit(breaker.value.protect(fail)))
    await Effect4.runPromise(Effect4.exit(effect4.value.execute(fail4, key4)))
    await cockatiel.execute(rejectedWork).catch(() => undefined)
    opossum.open()
    const expectAllOpen = async () => {
      await expectState(breaker.value, "Open")
      const state4 = await Effect4.runPromise(effect4.value.state("bench"))
      if (state4._tag !== "Open") throw new Error(`Effect 4's breaker is ${state4._tag}, expected Open`)
      if (cockatiel.state !== CockatielState.Open)
        throw new Error(`cockatiel's breaker is not Open: ${cockatiel.state}`)
      if (!opossum.opened) throw new Error("opossum's breaker is not open")
    }
    await expectAllOpen()

    const rows: Array<RowTask> = [
      {
        id: RowIds.bareFail,
        name: "Effect 3 loop: bare Effect.fail, caught by Effect.exit",
        unit: "ns/call",
        task: () => runPromise(repeat(calls, () => Effect.exit(fail)))
      },
      {
        id: RowIds.protectRejected,
        name: "Effect 3 loop: protect(Effect.succeed) while Open, caught",
        unit: "ns/call",
        baseline: RowIds.bareFail,
        task: () => runPromise(repeat(calls, () => Effect.exit(breaker.value.protect(succeed))))
      },
      {
        id: RowIds.rejectionSteps,
        name: "Effect 3 loop: the Effect steps of a rejection alone, caught",
        unit: "ns/call",
        baseline: RowIds.bareFail,
        task: () => runPromise(repeat(calls, () => Effect.exit(Steps.rejection(benchError))))
      },
      {
        id: RowIds.bareRejectedPromise,
        name: "async loop: bare await of a rejected Promise, caught",
        unit: "ns/call",
        task: () => repeatAsyncRejected(calls, rejectedWork)
      },
      {
        id: RowIds.cockatielRejected,
        name: "cockatiel execute while Open, caught",
        unit: "ns/call",
        baseline: RowIds.bareRejectedPromise,
        task: () => repeatAsyncRejected(calls, () => cockatiel.execute(resolvedWork))
      },
      {
        id: RowIds.opossumRejected,
        name: "opossum fire while open, caught",
        unit: "ns/call",
        baseline: RowIds.bareRejectedPromise,
        task: () => repeatAsyncRejected(calls, () => opossum.fire())
      },
      {
        id: RowIds.effect4BareFail,
        name: "Effect 4 loop: bare Effect.fail, caught by Effect.exit",
        unit: "ns/call",
        task: () => Effect4.runPromise(repeat4(calls, () => Effect4.exit(fail4)))
      },
      {
        id: RowIds.effect4Rejected,
        name: "Effect 4 loop: execute(Effect.succeed) while Open, caught",
        unit: "ns/call",
        baseline: RowIds.effect4BareFail,
        task: () => Effect4.runPromise(repeat4(calls, () => Effect4.exit(effect4.value.execute(succeed4, key4))))
      }
    ]

    const medians = await timePerCall(
      rows.map((row) => ({ id: row.id, callsPerSample: calls, run: row.task })),
      config.timing
    )
    await expectAllOpen()
    return rows.map(({ task: _task, ...row }) => ({ ...row, value: medians.get(row.id)! }))
  } finally {
    opossum.shutdown()
    await effect4.close()
    await breaker.close()
  }
}

/**
 * Times `callers` concurrent calls, each in its own fiber, against a breaker whose cooldown has just ended: the first
 * call runs as the trial, which yields once so that every other caller arrives while it runs and is rejected.
 */
const halfOpenRows = async (config: Config): Promise<ReadonlyArray<Row>> => {
  const callers = Array.from({ length: config.halfOpenCallers }, (_, index) => index)
  const breaker = await makeBreaker(halfOpenOptions)
  const fail = Effect.fail(benchError)
  const trial = Effect.zipRight(Effect.yieldNow(), Effect.succeed(1))
  let lastExits: ReadonlyArray<Exit.Exit<unknown, unknown>> = []

  const bareId = RowIds.bareConcurrentFail
  const halfOpenId = RowIds.protectHalfOpen
  const count = formatCount(config.halfOpenCallers)

  try {
    const medians = await timePerCall(
      [
        {
          id: bareId,
          callsPerSample: callers.length,
          run: () => runPromise(Effect.forEach(callers, () => Effect.exit(fail), { concurrency: "unbounded" }))
        },
        {
          id: halfOpenId,
          callsPerSample: callers.length,
          beforeEach: async () => {
            // One failure opens the breaker for 1 ms; the sleep lets that cooldown end before the timed run.
            await runPromise(Effect.exit(breaker.value.protect(fail)))
            await sleep(3)
          },
          run: async () => {
            lastExits = await runPromise(
              Effect.forEach(callers, () => Effect.exit(breaker.value.protect(trial)), { concurrency: "unbounded" })
            )
          },
          afterEach: async () => {
            // A sample in which the trial ended before the others arrived measured Closed calls, not HalfOpen ones.
            const admitted = lastExits.filter(Exit.isSuccess).length
            if (admitted !== 1) {
              throw new Error(
                `A HalfOpen sample admitted ${admitted} of ${callers.length} concurrent calls, expected 1`
              )
            }
          }
        }
      ],
      {
        samples: config.halfOpenSamples,
        warmupSamples: Math.min(config.timing.warmupSamples, config.halfOpenSamples),
        rounds: config.timing.rounds
      }
    )

    return [
      {
        id: bareId,
        name: `Effect 3: ${count} concurrent fibers, bare Effect.fail each`,
        unit: "ns/call",
        value: medians.get(bareId)!
      },
      {
        id: halfOpenId,
        name: `Effect 3: ${count} concurrent protect calls in HalfOpen`,
        unit: "ns/call",
        baseline: bareId,
        value: medians.get(halfOpenId)!
      }
    ]
  } finally {
    await breaker.close()
  }
}

export const run = async (config: Config): Promise<Section> => ({
  title,
  rows: [...(await openRows(config)), ...(await halfOpenRows(config))]
})
