/**
 * The project's performance targets, checked against the rows of one run.
 */
import { formatCount } from "./Config.js"
import { indexRows, type Row, ratioText, type Section } from "./Report.js"
import * as RowIds from "./RowIds.js"

export interface TargetResult {
  readonly target: string
  /** Undefined when the rows the target needs were not measured in this run. */
  readonly met: boolean | undefined
  readonly detail: string
}

const ns = (row: Row): string => `${formatCount(Math.round(row.value))} ns`

/** Names the cost of the Effect steps alone, when that row was measured, as the floor under a target's row. */
const floor = (steps: Row | undefined, bare: Row): string =>
  steps === undefined ? "" : `; its Effect steps alone cost ${ns(steps)}, ${ratioText(steps.value / bare.value)}`

const notMeasured = (target: string): TargetResult => ({
  target,
  met: undefined,
  detail: "not evaluated: its rows were not measured in this run"
})

const syncOverhead = (rows: ReadonlyMap<string, Row>): TargetResult => {
  const target = "closed and succeeding, protect adds at most 50% to a bare synchronous Effect 3 step"
  const bare = rows.get(RowIds.bareSync)
  const protect = rows.get(RowIds.protectSync)
  if (bare === undefined || protect === undefined) return notMeasured(target)

  const ratio = protect.value / bare.value
  return {
    target,
    met: ratio <= 1.5,
    detail:
      `protect(Effect.succeed) ${ns(protect)} per call is ${ratioText(ratio)} the bare step's ${ns(bare)} (limit 1.50x)` +
      floor(rows.get(RowIds.closedSteps), bare)
  }
}

const againstCockatiel = (rows: ReadonlyMap<string, Row>): TargetResult => {
  const target = "closed and succeeding, protect costs less per call than cockatiel on the same asynchronous work"
  const protect = rows.get(RowIds.protectAsync)
  const bareEffect = rows.get(RowIds.bareAsync)
  const cockatiel = rows.get(RowIds.cockatielAsync)
  const barePromise = rows.get(RowIds.barePromise)
  if (protect === undefined || bareEffect === undefined || cockatiel === undefined || barePromise === undefined) {
    return notMeasured(target)
  }

  const added = protect.value - bareEffect.value
  const cockatielAdded = cockatiel.value - barePromise.value
  return {
    target,
    met: protect.value < cockatiel.value,
    detail:
      `protect on Effect.promise ${ns(protect)} per call against cockatiel's ${ns(cockatiel)}; the breaker's own ` +
      `share is ${formatCount(Math.round(added))} ns over the bare Effect.promise step, cockatiel's is ` +
      `${formatCount(Math.round(cockatielAdded))} ns over the bare awaited Promise`
  }
}

const rejection = (rows: ReadonlyMap<string, Row>): TargetResult => {
  const target = "a rejection while open costs at most twice a bare Effect.fail in the same loop"
  const bare = rows.get(RowIds.bareFail)
  const rejected = rows.get(RowIds.protectRejected)
  if (bare === undefined || rejected === undefined) return notMeasured(target)

  const ratio = rejected.value / bare.value
  return {
    target,
    met: ratio <= 2,
    detail:
      `a rejection costs ${ns(rejected)}, ${ratioText(ratio)} the bare Effect.fail's ${ns(bare)} (limit 2.00x)` +
      floor(rows.get(RowIds.rejectionSteps), bare)
  }
}

const heapPerKey = (rows: ReadonlyMap<string, Row>, largestCount: number): TargetResult => {
  const target = "at most 150 bytes of heap per idle key at 1,000,000 keys"
  const row = rows.get(RowIds.keyedHeap(largestCount))
  if (row === undefined) return notMeasured(target)

  const caveat =
    largestCount === 1_000_000 ? "" : `; measured at ${formatCount(largestCount)} keys, not 1,000,000, in this run`
  return {
    target,
    met: row.value <= 150,
    detail: `${formatCount(Math.round(row.value))} bytes per key (limit 150)${caveat}`
  }
}

const idleCpu = (rows: ReadonlyMap<string, Row>, largestCount: number): TargetResult => {
  const target = "under 1% of a core while idle"
  const row = rows.get(RowIds.keyedIdle(largestCount))
  if (row === undefined) return notMeasured(target)

  return {
    target,
    met: row.value < 1,
    detail: `${row.value.toFixed(2)} % of a core while holding ${formatCount(largestCount)} keys (limit 1 %)`
  }
}

/** Checks every target against the rows; `largestCount` is the largest key count of the heap rows. */
export const evaluate = (sections: ReadonlyArray<Section>, largestCount: number): ReadonlyArray<TargetResult> => {
  const rows = indexRows(sections)
  return [
    syncOverhead(rows),
    againstCockatiel(rows),
    rejection(rows),
    heapPerKey(rows, largestCount),
    idleCpu(rows, largestCount)
  ]
}

const verdictOf = (result: TargetResult): string => {
  if (result.met === undefined) return "n/a   "
  return result.met ? "met   " : "missed"
}

export const render = (results: ReadonlyArray<TargetResult>): string =>
  ["Targets", ...results.map((result) => `  ${verdictOf(result)}  ${result.target}\n          ${result.detail}`)].join(
    "\n"
  )
