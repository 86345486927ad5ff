/**
 * A single breaker on the Redis store against the same breaker on the in-memory store, Closed, every call
 * succeeding: calls per second per process, one fiber after another and split between a few fibers, and the Redis
 * round trips each call costs.
 *
 * The section starts its own `redis-server` on a free port of 127.0.0.1 and stops it at the end. The store gets a
 * connection made here, with the settings the store gives its own connections, so that every command sent on it can
 * be counted. The counts are checked against the `EVALSHA` calls that Redis itself reports in `INFO commandstats`.
 */
import { CircuitBreaker, Store } from "@effect-resilience/circuit-breaker"
// The loopback package's entry point also loads its vitest suites, which fail outside vitest. It exports no path to
// the server module alone, so the bench imports that module by its file.
import * as RedisServer from "@effect-resilience/loopback/RedisServer"
import { RedisStore } from "@effect-resilience/redis"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Metric from "effect/Metric"
import * as Scope from "effect/Scope"
import { Redis } from "ioredis"
import { closedOptions, expectState, makeBreaker, type Scoped } from "../Breakers.js"
import type { Config } from "../Config.js"
import { repeat, runPromise } from "../Loops.js"
import { type TimedTask, timePerCall } from "../Measure.js"
import type { Row, Section } from "../Report.js"
import * as RowIds from "../RowIds.js"

export const title = "Redis store, single breaker Closed, every call succeeds (calls per second, round trips per call)"

/** The wait for a reply before the store goes on without Redis, long enough that a loaded machine causes no outage. */
const commandTimeout = "2 seconds"

/** Counts the commands sent on a connection, by lower-case command name. */
interface CommandCounter {
  readonly counts: Map<string, number>
  readonly total: () => number
}

/** Makes a connection with the store's own settings, whose `sendCommand` counts every command before sending it. */
const countingClient = (url: string): { readonly client: Redis; readonly counter: CommandCounter } => {
  const counts = new Map<string, number>()
  const client = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: 2_000,
    retryStrategy: (attempts: number) => Math.min(attempts * 100, 1_000)
  })
  client.on("error", () => {})
  const send = client.sendCommand.bind(client)
  client.sendCommand = (...args: Parameters<Redis["sendCommand"]>) => {
    const name = args[0].name.toLowerCase()
    counts.set(name, (counts.get(name) ?? 0) + 1)
    return send(...args)
  }
  return {
    client,
    counter: { counts, total: () => [...counts.values()].reduce((sum, count) => sum + count, 0) }
  }
}

/** Reads how many times Redis has run each command, from `INFO commandstats`, by lower-case command name. */
const commandStats = async (probe: Redis): Promise<ReadonlyMap<string, number>> => {
  const text = await probe.info("commandstats")
  const stats = new Map<string, number>()
  for (const line of text.split("\n")) {
    const match = /^cmdstat_([^:]+):calls=(\d+)/.exec(line.trim())
    if (match !== null) stats.set(match[1]!.toLowerCase(), Number(match[2]))
  }
  return stats
}

const outageCount = () => runPromise(Effect.map(Metric.value(RedisStore.outages), (state) => state.count))

/** The breakers and connections of the section, all closed by `close`. */
interface Setup {
  readonly redis: CircuitBreaker.CircuitBreaker
  readonly memory: Scoped<CircuitBreaker.CircuitBreaker>
  readonly counter: CommandCounter
  readonly probe: Redis
  readonly close: () => Promise<void>
}

const setUp = async (): Promise<Setup> => {
  const scope = Effect.runSync(Scope.make())
  const closeScope = () => runPromise(Scope.close(scope, Exit.void))
  try {
    const server = await runPromise(Scope.extend(RedisServer.start, scope))
    const { client, counter } = countingClient(server.url)
    const probe = new Redis(server.url, { lazyConnect: true, maxRetriesPerRequest: 0 })
    probe.on("error", () => {})
    // The connections close before the server stops: finalizers run in reverse order.
    await runPromise(
      Scope.addFinalizer(
        scope,
        Effect.promise(async () => {
          client.disconnect()
          probe.disconnect()
        })
      )
    )
    await probe.connect()
    const redis = await runPromise(
      Scope.extend(
        Effect.flatMap(RedisStore.make({ client, commandTimeout, prefix: "bench" }), (factory) =>
          Effect.provideService(CircuitBreaker.make(closedOptions), Store.CircuitStoreFactory, factory)
        ),
        scope
      )
    )
    const memory = await makeBreaker(closedOptions)
    return {
      redis,
      memory,
      counter,
      probe,
      close: async () => {
        await memory.close()
        await closeScope()
      }
    }
  } catch (error) {
    await closeScope()
    throw error
  }
}

const succeed = Effect.succeed(1)

/** `calls` calls through `breaker`, one after another in one fiber. */
const sequential = (breaker: CircuitBreaker.CircuitBreaker, calls: number) => () =>
  runPromise(repeat(calls, () => breaker.protect(succeed)))

/** `fibers` fibers started at once, each making `callsPerFiber` calls through `breaker` one after another. */
const concurrent = (breaker: CircuitBreaker.CircuitBreaker, fibers: number, callsPerFiber: number) => () =>
  runPromise(
    Effect.forEach(
      Array.from({ length: fibers }, (_, index) => index),
      () => repeat(callsPerFiber, () => breaker.protect(succeed)),
      { concurrency: "unbounded", discard: true }
    )
  )

/**
 * Runs `run` once and returns the commands the counting connection sent during it, divided by `calls`. Fails when the
 * `EVALSHA` calls Redis counted in the same window differ from those the connection sent.
 */
const roundTripsPerCall = async (setup: Setup, run: () => Promise<unknown>, calls: number): Promise<number> => {
  const statsBefore = await commandStats(setup.probe)
  const sentBefore = new Map(setup.counter.counts)
  const totalBefore = setup.counter.total()
  await run()
  const statsAfter = await commandStats(setup.probe)
  const sent = setup.counter.total() - totalBefore

  const sentEvalsha = (setup.counter.counts.get("evalsha") ?? 0) - (sentBefore.get("evalsha") ?? 0)
  const ranEvalsha = (statsAfter.get("evalsha") ?? 0) - (statsBefore.get("evalsha") ?? 0)
  if (sentEvalsha !== ranEvalsha) {
    throw new Error(`The store sent ${sentEvalsha} EVALSHA commands, but Redis counted ${ranEvalsha}`)
  }
  return sent / calls
}

export const run = async (config: Config): Promise<Section> => {
  const { timing, fibers } = config.redis
  const callsPerFiber = Math.max(1, Math.ceil(timing.callsPerSample / fibers))
  const concurrentCalls = callsPerFiber * fibers
  const sequentialCalls = timing.callsPerSample
  const setup = await setUp()

  try {
    const outagesBefore = await outageCount()
    const tasks: Array<TimedTask> = [
      {
        id: RowIds.memoryStoreSequential,
        callsPerSample: sequentialCalls,
        run: sequential(setup.memory.value, sequentialCalls)
      },
      {
        id: RowIds.redisStoreSequential,
        callsPerSample: sequentialCalls,
        run: sequential(setup.redis, sequentialCalls)
      },
      {
        id: RowIds.memoryStoreConcurrent,
        callsPerSample: concurrentCalls,
        run: concurrent(setup.memory.value, fibers, callsPerFiber)
      },
      {
        id: RowIds.redisStoreConcurrent,
        callsPerSample: concurrentCalls,
        run: concurrent(setup.redis, fibers, callsPerFiber)
      }
    ]
    const nsPerCall = await timePerCall(tasks, timing)
    const perSecond = (id: string) => 1e9 / nsPerCall.get(id)!

    const tripsSequential = await roundTripsPerCall(setup, sequential(setup.redis, sequentialCalls), sequentialCalls)
    const tripsConcurrent = await roundTripsPerCall(
      setup,
      concurrent(setup.redis, fibers, callsPerFiber),
      concurrentCalls
    )
    // The in-memory breaker is counted through the same connection: it must send nothing.
    const tripsMemory = await roundTripsPerCall(setup, sequential(setup.memory.value, sequentialCalls), sequentialCalls)

    await expectState(setup.redis, "Closed")
    await expectState(setup.memory.value, "Closed")
    const outages = (await outageCount()) - outagesBefore
    if (outages !== 0) throw new Error(`The Redis store noticed ${outages} outages during the run`)

    const rows: ReadonlyArray<Row> = [
      {
        id: RowIds.memoryStoreSequential,
        name: "in-memory store: protect(Effect.succeed), 1 fiber",
        unit: "calls/s",
        value: perSecond(RowIds.memoryStoreSequential)
      },
      {
        id: RowIds.redisStoreSequential,
        name: "Redis store: protect(Effect.succeed), 1 fiber",
        unit: "calls/s",
        baseline: RowIds.memoryStoreSequential,
        value: perSecond(RowIds.redisStoreSequential)
      },
      {
        id: RowIds.memoryStoreConcurrent,
        name: `in-memory store: protect(Effect.succeed), ${fibers} fibers`,
        unit: "calls/s",
        value: perSecond(RowIds.memoryStoreConcurrent)
      },
      {
        id: RowIds.redisStoreConcurrent,
        name: `Redis store: protect(Effect.succeed), ${fibers} fibers`,
        unit: "calls/s",
        baseline: RowIds.memoryStoreConcurrent,
        value: perSecond(RowIds.redisStoreConcurrent)
      },
      {
        id: RowIds.memoryStoreRoundTrips,
        name: "in-memory store: Redis round trips per call",
        unit: "round trips/call",
        value: tripsMemory
      },
      {
        id: RowIds.redisStoreRoundTripsSequential,
        name: "Redis store: Redis round trips per call, 1 fiber",
        unit: "round trips/call",
        value: tripsSequential
      },
      {
        id: RowIds.redisStoreRoundTripsConcurrent,
        name: `Redis store: Redis round trips per call, ${fibers} fibers`,
        unit: "round trips/call",
        value: tripsConcurrent
      }
    ]
    return { title, rows }
  } finally {
    await setup.close()
  }
}
