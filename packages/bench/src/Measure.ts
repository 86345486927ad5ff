/**
 * The measurements behind the figures: per-call times through tinybench, heap bytes through forced collections, and
 * idle CPU through `process.cpuUsage()`.
 */
import { setTimeout as sleep } from "node:timers/promises"
import { Bench, type FnOptions } from "tinybench"
import type { Timing } from "./Config.js"

/** One timed task: each run of `run` makes `callsPerSample` calls, and tinybench times every run. */
export interface TimedTask {
  readonly id: string
  readonly callsPerSample: number
  readonly run: () => Promise<unknown>
  /** Untimed preparation before every run, warm-up runs included. */
  readonly beforeEach?: (() => Promise<void>) | undefined
  /** Untimed check after every run; a throw fails the whole bench. */
  readonly afterEach?: (() => Promise<void>) | undefined
}

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

/**
 * Times each task for `timing.samples` runs and returns its median run time divided by its calls, in nanoseconds per
 * call.
 *
 * The samples are taken in `timing.rounds` rounds, and every round runs every task in turn. Load from other processes
 * on a shared machine then falls on a task and its baseline alike, instead of on whichever ran while it lasted. The
 * first round starts with `timing.warmupSamples` untimed runs of each task.
 */
export const timePerCall = async (
  tasks: ReadonlyArray<TimedTask>,
  timing: Pick<Timing, "samples" | "warmupSamples" | "rounds">
): Promise<ReadonlyMap<string, number>> => {
  const rounds = Math.max(1, Math.min(timing.rounds, timing.samples))
  const samplesPerRound = Math.ceil(timing.samples / rounds)
  const samples = new Map<string, Array<number>>(tasks.map((task) => [task.id, []]))

  for (let round = 0; round < rounds; round++) {
    // `time: 0` makes the sample count, not a time budget, decide how long each task runs.
    const bench = new Bench({
      iterations: samplesPerRound,
      time: 0,
      warmup: round === 0 && timing.warmupSamples > 0,
      warmupIterations: timing.warmupSamples,
      warmupTime: 0,
      retainSamples: true,
      throws: true
    })
    for (const task of tasks) {
      const options: FnOptions = { async: true }
      if (task.beforeEach !== undefined) options.beforeEach = task.beforeEach
      if (task.afterEach !== undefined) options.afterEach = task.afterEach
      bench.add(task.id, task.run, options)
    }
    await bench.run()

    for (const task of tasks) {
      const result = bench.getTask(task.id)?.result
      if (result === undefined || result.state !== "completed" || result.latency.samples === undefined) {
        throw new Error(`Timed task ${task.id} did not complete: its state is ${result?.state ?? "missing"}`)
      }
      samples.get(task.id)!.push(...result.latency.samples)
    }
  }

  return new Map(
    tasks.map((task) => [task.id, (median(samples.get(task.id)!) * 1_000_000) / task.callsPerSample] as const)
  )
}

/** The `gc` function of a Node process started with `--expose-gc`. */
export type CollectGarbage = () => void

/**
 * Collects garbage until a round frees nothing more (at most five rounds) and returns the heap in use, in bytes. Each
 * round lets the event loop turn once after the collection, so that weak references and finalization callbacks that
 * the collection queued run before the next one.
 */
export const settledHeapUsed = async (gc: CollectGarbage): Promise<number> => {
  let used = Number.POSITIVE_INFINITY
  for (let round = 0; round < 5; round++) {
    gc()
    await new Promise((resolve) => setImmediate(resolve))
    const now = process.memoryUsage().heapUsed
    if (now >= used) return now
    used = now
  }
  return used
}

/**
 * Holds `value` until {@link release}, so that a structure under measurement stays reachable for as long as its heap
 * or idle CPU is being read, whatever the compiler decides about local variables.
 */
const retained = new Set<unknown>()
export const retain = (value: unknown): void => {
  retained.add(value)
}
export const release = (value: unknown): void => {
  retained.delete(value)
}

/**
 * Returns the heap that `build` leaves reachable, per key: the settled heap after it minus the settled heap before
 * it, divided by `keys`. The value `build` returns is kept until the caller releases it.
 */
export const heapPerKey = async <A>(
  gc: CollectGarbage,
  keys: number,
  build: () => Promise<A>
): Promise<{ readonly bytesPerKey: number; readonly holder: A }> => {
  const before = await settledHeapUsed(gc)
  const holder = await build()
  retain(holder)
  const after = await settledHeapUsed(gc)
  return { bytesPerKey: (after - before) / keys, holder }
}

/**
 * Returns the CPU the whole process used (user and system, every thread) while its event loop sat idle for
 * `millis`, as a percentage of one core, after waiting `settleMillis` first.
 */
export const idleCpuPercent = async (millis: number, settleMillis: number): Promise<number> => {
  if (settleMillis > 0) await sleep(settleMillis)
  const startCpu = process.cpuUsage()
  const startWall = performance.now()
  await sleep(millis)
  const used = process.cpuUsage(startCpu)
  const wallMillis = performance.now() - startWall
  return ((used.user + used.system) / 1000 / wallMillis) * 100
}
