/**
 * The Effect 3 operations that a call through `protect` is built from, each timed alone in the same loop, so that
 * the per-call rows can be split into their parts. The metric rows call the metric's synchronous `unsafeUpdate`
 * directly in a plain loop, as the breaker's telemetry does.
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import * as MetricLabel from "effect/MetricLabel"
import * as Ref from "effect/Ref"
import * as Tracer from "effect/Tracer"
import type { Config } from "../Config.js"
import { repeat, runPromise } from "../Loops.js"
import { type TimedTask, timePerCall } from "../Measure.js"
import type { Row, Section } from "../Report.js"
import * as RowIds from "../RowIds.js"

export const title = "Parts of a protected call, Effect 3 (ns per call)"

/** Calls `call` `calls` times in a plain loop; async only so that tinybench treats every task alike. */
const repeatSync = async (calls: number, call: () => void): Promise<void> => {
  for (let index = 0; index < calls; index++) call()
}

export const run = async (config: Config): Promise<Section> => {
  const calls = config.timing.callsPerSample
  const succeed = Effect.succeed(1)
  const sync = Effect.sync(() => 1)
  const ref = Effect.runSync(Ref.make(0))
  const modifyWithClock = Effect.zipRight(
    Clock.currentTimeMillis,
    Ref.modify(ref, (count) => [count, count + 1] as const)
  )
  const modify = Ref.modify(ref, (count) => [count, count + 1] as const)
  const clock = Effect.runSync(Effect.clock)
  const withSpanLookup = Effect.withFiberRuntime<number>((fiber) => {
    const span = Context.getOption(fiber.currentContext, Tracer.ParentSpan)
    return span._tag === "Some" ? sync : succeed
  })
  const annotate = Effect.annotateCurrentSpan({ "bench.name": "bench", "bench.state": "Closed" })
  const parentSpan = Effect.serviceOption(Tracer.ParentSpan)

  const counter = Metric.counter("bench_parts_calls_total", {
    description: "Calls in the parts rows",
    incremental: true
  })
  const taggedCounter = counter.pipe(Metric.tagged("outcome", "success"), Metric.tagged("circuit_breaker", "bench"))
  const labels = [MetricLabel.make("circuit_breaker", "bench"), MetricLabel.make("outcome", "success")]
  const noLabels: ReadonlyArray<MetricLabel.MetricLabel> = []
  const histogram = Metric.histogram(
    "bench_parts_call_duration_ms",
    MetricBoundaries.exponential({ start: 1, factor: 2, count: 18 }),
    "Durations in the parts rows"
  )
  const taggedHistogram = histogram.pipe(Metric.tagged("circuit_breaker", "bench"))

  type RowTask = { readonly id: string; readonly name: string; readonly task: TimedTask["run"] }

  // Each of these runs in the Effect loop of the bare step row, the first one, so its ratio is to that row.
  const inEffectLoop: Array<RowTask> = [
    {
      id: RowIds.partsBareSync,
      name: "Effect 3 loop: bare Effect.succeed, timed with the parts",
      task: () => runPromise(repeat(calls, () => succeed))
    },
    {
      id: "parts.sync",
      name: "Effect.sync(() => 1)",
      task: () => runPromise(repeat(calls, () => sync))
    },
    {
      id: "parts.modifyWithClock",
      name: "Clock.currentTimeMillis, then Ref.modify",
      task: () => runPromise(repeat(calls, () => modifyWithClock))
    },
    {
      id: "parts.modify",
      name: "Ref.modify",
      task: () => runPromise(repeat(calls, () => modify))
    },
    {
      id: "parts.spanLookup",
      name: "Effect.withFiberRuntime, finding no span in the context",
      task: () => runPromise(repeat(calls, () => withSpanLookup))
    },
    {
      id: "parts.matchCauseEffect",
      name: "Effect.matchCauseEffect(effect, { onFailure, onSuccess })",
      task: () =>
        runPromise(
          repeat(calls, () =>
            Effect.matchCauseEffect(succeed, {
              onFailure: (cause) => Exit.failCause(cause),
              onSuccess: (value) => Exit.succeed(value)
            })
          )
        )
    },
    {
      id: "parts.uninterruptibleMask",
      name: "Effect.uninterruptibleMask((restore) => restore(effect))",
      task: () => runPromise(repeat(calls, () => Effect.uninterruptibleMask((restore) => restore(succeed))))
    },
    {
      id: "parts.onExit",
      name: "Effect.onExit(effect, () => Effect.void)",
      task: () => runPromise(repeat(calls, () => Effect.onExit(succeed, () => Effect.void)))
    },
    {
      id: "parts.annotateCurrentSpan",
      name: "Effect.annotateCurrentSpan with no span",
      task: () => runPromise(repeat(calls, () => annotate))
    },
    {
      id: "parts.parentSpanOption",
      name: "Effect.serviceOption(Tracer.ParentSpan) with no span",
      task: () => runPromise(repeat(calls, () => parentSpan))
    }
  ]

  // These run in a plain loop, so they have no ratio to an Effect step.
  const inPlainLoop: Array<RowTask> = [
    {
      id: "parts.clockRead",
      name: "Clock read: unsafeCurrentTimeMillis of the default Clock",
      task: () => repeatSync(calls, () => clock.unsafeCurrentTimeMillis())
    },
    {
      id: "parts.taggedCounter",
      name: "counter with two Metric.tagged labels: unsafeUpdate",
      task: () => repeatSync(calls, () => taggedCounter.unsafeUpdate(1, noLabels))
    },
    {
      id: "parts.counterWithLabels",
      name: "counter passed one constant label array: unsafeUpdate",
      task: () => repeatSync(calls, () => counter.unsafeUpdate(1, labels))
    },
    {
      id: "parts.taggedHistogram",
      name: "histogram with one Metric.tagged label: unsafeUpdate",
      task: () => repeatSync(calls, () => taggedHistogram.unsafeUpdate(1, noLabels))
    }
  ]

  const rows: Array<Omit<Row, "value"> & { readonly task: TimedTask["run"] }> = [
    ...inEffectLoop.map((row) => ({
      ...row,
      unit: "ns/call" as const,
      baseline: row.id === RowIds.partsBareSync ? undefined : RowIds.partsBareSync
    })),
    ...inPlainLoop.map((row) => ({ ...row, unit: "ns/call" as const }))
  ]

  const medians = await timePerCall(
    rows.map((row) => ({ id: row.id, callsPerSample: calls, run: row.task })),
    config.timing
  )
  return { title, rows: rows.map(({ task: _task, ...row }) => ({ ...row, value: medians.get(row.id)! })) }
}
