/**
 * Heap per key and CPU while idle. The keyed breaker and Effect 4's breaker hold 100,000 and 1,000,000 keys.
 * cockatiel and opossum hold one breaker per key for 100,000 keys. Quick runs use ten times fewer. Each key has one
 * recorded failure, so that every library stores something for it.
 */
import type { CircuitBreakerPolicy } from "cockatiel"
import * as Effect from "effect/Effect"
import * as Effect4 from "effect4/Effect"
import type Opossum from "opossum"
import { makeCockatiel, makeEffect4, makeKeyed, makeOpossum } from "../Breakers.js"
import { type Config, formatCount } from "../Config.js"
import { benchError, rejectedWork, repeat, repeat4, runPromise } from "../Loops.js"
import { type CollectGarbage, heapPerKey, idleCpuPercent, release, retain, settledHeapUsed } from "../Measure.js"
import type { Row, Section } from "../Report.js"
import * as RowIds from "../RowIds.js"
import { makeKeys } from "./keyed.js"

export const heapTitle = "Heap per key, after a full collection (bytes per key)"
export const idleTitle = "CPU while idle, holding the keys (% of one core)"

export interface Context {
  readonly config: Config
  readonly gc: CollectGarbage
  readonly progress: (message: string) => void
}

const keysLabel = (count: number) => `${formatCount(count)} ${count === 1 ? "key" : "keys"}`

const ignore = () => undefined

/** Builds one holder of `count` keys and measures its heap, then idle CPU while it is kept, when `idleRow` is given. */
const measureHolder = async <A>(
  context: Context,
  options: {
    readonly count: number
    readonly heapRow: Omit<Row, "value" | "unit">
    readonly idleRow: Omit<Row, "value" | "unit" | "baseline"> | undefined
    readonly build: (keys: ReadonlyArray<string>) => Promise<A>
    readonly dispose: (holder: A) => Promise<void> | void
  }
): Promise<ReadonlyArray<Row>> => {
  const { config, gc, progress } = context
  progress(`heap, ${options.heapRow.name}`)

  // A first, small holder compiles the code and fills the caches that every later holder shares, so that neither
  // counts in the figure.
  const warmUp = await options.build(makeKeys(Math.min(options.count, 1_000)))
  await options.dispose(warmUp)

  // The keys exist before the first reading and stay reachable past the second, so that they count on neither side.
  const keys = makeKeys(options.count)
  retain(keys)
  const { bytesPerKey, holder } = await heapPerKey(gc, options.count, () => options.build(keys))

  try {
    const rows: Array<Row> = [{ ...options.heapRow, unit: "bytes/key", value: bytesPerKey }]
    if (options.idleRow !== undefined) {
      progress(`idle CPU, ${options.idleRow.name}`)
      const percent = await idleCpuPercent(config.idleMillis, config.settleMillis)
      rows.push({ ...options.idleRow, unit: "% of a core", baseline: RowIds.idleNothing, value: percent })
    }
    return rows
  } finally {
    await options.dispose(holder)
    release(holder)
    release(keys)
  }
}

const buildMap = async (keys: ReadonlyArray<string>) => {
  const map = new Map<string, number>()
  for (const key of keys) map.set(key, 0)
  return map
}

const buildKeyed = async (keys: ReadonlyArray<string>) => {
  const keyed = await makeKeyed(keys.length)
  const fail = Effect.fail(benchError)
  await runPromise(repeat(keys.length, (index) => Effect.exit(keyed.value.protect(fail, keys[index]!))))
  const stored = await runPromise(keyed.value.size)
  if (stored !== keys.length) throw new Error(`The keyed breaker stores ${stored} circuits, expected ${keys.length}`)
  return keyed
}

const buildEffect4 = async (keys: ReadonlyArray<string>) => {
  const breaker = await makeEffect4(5, 60_000)
  const fail = Effect4.fail(benchError)
  await Effect4.runPromise(
    repeat4(keys.length, (index) => Effect4.exit(breaker.value.execute(fail, { key: keys[index]! })))
  )
  return breaker
}

const buildCockatiel = async (keys: ReadonlyArray<string>) => {
  const breakers = new Map<string, CircuitBreakerPolicy>()
  for (const key of keys) {
    const breaker = makeCockatiel(5, 60_000)
    await breaker.execute(rejectedWork).catch(ignore)
    breakers.set(key, breaker)
  }
  return breakers
}

const buildOpossum = async (keys: ReadonlyArray<string>) => {
  const breakers = new Map<string, Opossum<[], number>>()
  for (const key of keys) {
    const breaker = makeOpossum(rejectedWork, 10_000)
    await breaker.fire().catch(ignore)
    if (!breaker.closed) throw new Error("An opossum breaker opened after one failure; the heap row expects it Closed")
    breakers.set(key, breaker)
  }
  return breakers
}

export const run = async (context: Context): Promise<ReadonlyArray<Section>> => {
  const { config, gc, progress } = context
  const heap: Array<Row> = []
  const idle: Array<Row> = []
  const collect = (rows: ReadonlyArray<Row>) => {
    for (const row of rows) (row.unit === "bytes/key" ? heap : idle).push(row)
  }

  progress("idle CPU holding nothing")
  await settledHeapUsed(gc)
  idle.push({
    id: RowIds.idleNothing,
    name: "nothing held",
    unit: "% of a core",
    value: await idleCpuPercent(config.idleMillis, config.settleMillis)
  })

  const mapCounts = [...new Set([...config.memoryCounts, config.libraryBreakerCount])].sort((a, b) => a - b)
  for (const count of mapCounts) {
    collect(
      await measureHolder(context, {
        count,
        heapRow: { id: RowIds.mapHeap(count), name: `Map<string, number>, ${keysLabel(count)}` },
        idleRow: undefined,
        build: buildMap,
        dispose: ignore
      })
    )
  }

  const largest = Math.max(...config.memoryCounts)
  for (const count of config.memoryCounts) {
    collect(
      await measureHolder(context, {
        count,
        heapRow: {
          id: RowIds.keyedHeap(count),
          name: `keyed breaker, ${keysLabel(count)}`,
          baseline: RowIds.mapHeap(count)
        },
        idleRow:
          count === largest ? { id: RowIds.keyedIdle(count), name: `keyed breaker, ${keysLabel(count)}` } : undefined,
        build: buildKeyed,
        dispose: (keyed) => keyed.close()
      })
    )
  }

  for (const count of config.memoryCounts) {
    collect(
      await measureHolder(context, {
        count,
        heapRow: {
          id: RowIds.effect4Heap(count),
          name: `Effect 4 breaker, memory store, ${keysLabel(count)}`,
          baseline: RowIds.mapHeap(count)
        },
        idleRow:
          count === largest
            ? { id: RowIds.effect4Idle(count), name: `Effect 4 breaker, memory store, ${keysLabel(count)}` }
            : undefined,
        build: buildEffect4,
        dispose: (breaker) => breaker.close()
      })
    )
  }

  const breakers = config.libraryBreakerCount
  const breakersLabel = `${formatCount(breakers)} breakers in a Map`
  collect(
    await measureHolder(context, {
      count: breakers,
      heapRow: {
        id: RowIds.cockatielHeap(breakers),
        name: `cockatiel, ${breakersLabel}`,
        baseline: RowIds.mapHeap(breakers)
      },
      idleRow: { id: RowIds.cockatielIdle(breakers), name: `cockatiel, ${breakersLabel}` },
      build: buildCockatiel,
      dispose: ignore
    })
  )

  // Every opossum breaker owns interval timers until it is shut down, so this holder runs last and is shut down.
  collect(
    await measureHolder(context, {
      count: breakers,
      heapRow: {
        id: RowIds.opossumHeap(breakers),
        name: `opossum, ${breakersLabel}`,
        baseline: RowIds.mapHeap(breakers)
      },
      idleRow: { id: RowIds.opossumIdle(breakers), name: `opossum, ${breakersLabel}` },
      build: buildOpossum,
      dispose: (holder) => {
        for (const breaker of holder.values()) breaker.shutdown()
      }
    })
  )

  return [
    { title: heapTitle, rows: heap },
    { title: idleTitle, rows: idle }
  ]
}
