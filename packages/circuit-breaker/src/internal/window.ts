/**
 * Sliding windows of call outcomes for the rate policies, as plain data updated by pure functions.
 *
 * A count window keeps the last `size` outcomes in a ring. A time window keeps `buckets` buckets of equal width,
 * aligned to multiples of the width since the epoch; it rotates lazily, when a call is recorded or the window is read,
 * so no timer runs for it.
 */

export type WindowSpec =
  | { readonly _tag: "Calls"; readonly size: number }
  | { readonly _tag: "Time"; readonly durationMillis: number; readonly buckets: number }

/**
 * Totals over a window: calls recorded, and how many of them failed or were slow.
 */
export interface Totals {
  readonly calls: number
  readonly failures: number
  readonly slowCalls: number
}

/**
 * Flags of one recorded call in a count window's ring: bit 0 set for a failure, bit 1 set for a slow call, and 4 for
 * a slot that contains a call at all.
 */
const recorded = 4
const failedBit = 1
const slowBit = 2

export interface CountWindow extends Totals {
  readonly _tag: "Calls"
  readonly ring: ReadonlyArray<number>
  /** The ring slot the next call is written to. */
  readonly next: number
}

export interface TimeWindow extends Totals {
  readonly _tag: "Time"
  /** Per bucket, oldest first: calls, failures and slow calls, three numbers each. */
  readonly counts: ReadonlyArray<number>
  /** The index since the epoch (time divided by bucket width) of the newest bucket. */
  readonly newest: number
}

export type Window = CountWindow | TimeWindow

export const empty = (spec: WindowSpec): Window =>
  spec._tag === "Calls"
    ? { _tag: "Calls", ring: new Array(spec.size).fill(0), next: 0, calls: 0, failures: 0, slowCalls: 0 }
    : { _tag: "Time", counts: new Array(spec.buckets * 3).fill(0), newest: 0, calls: 0, failures: 0, slowCalls: 0 }

const bucketWidth = (spec: Extract<WindowSpec, { _tag: "Time" }>): number => spec.durationMillis / spec.buckets

/**
 * Moves a time window forward so that its newest bucket is the one containing `now`, dropping buckets that fell out.
 * Returns the same object when nothing moved.
 */
const rotate = (window: TimeWindow, spec: Extract<WindowSpec, { _tag: "Time" }>, now: number): TimeWindow => {
  const current = Math.floor(now / bucketWidth(spec))
  const shift = current - window.newest
  if (shift <= 0) {
    return window
  }

  // After a gap at least as long as the window every bucket has expired.
  if (shift >= spec.buckets) {
    return {
      ...window,
      counts: new Array(spec.buckets * 3).fill(0),
      newest: current,
      calls: 0,
      failures: 0,
      slowCalls: 0
    }
  }

  const counts = window.counts.slice(shift * 3)
  let { calls, failures, slowCalls } = window
  for (let i = 0; i < shift * 3; i += 3) {
    calls -= window.counts[i]!
    failures -= window.counts[i + 1]!
    slowCalls -= window.counts[i + 2]!
  }
  for (let i = 0; i < shift * 3; i++) {
    counts.push(0)
  }
  return { _tag: "Time", counts, newest: current, calls, failures, slowCalls }
}

/**
 * Adds one call to the window at `now`. For a count window the oldest call falls out once the ring is full.
 */
export const add = (window: Window, spec: WindowSpec, failed: boolean, slow: boolean, now: number): Window => {
  if (window._tag === "Calls") {
    const ring = window.ring.slice()
    const evicted = ring[window.next]!
    ring[window.next] = recorded | (failed ? failedBit : 0) | (slow ? slowBit : 0)
    const wasRecorded = (evicted & recorded) !== 0
    return {
      _tag: "Calls",
      ring,
      next: (window.next + 1) % ring.length,
      calls: window.calls + (wasRecorded ? 0 : 1),
      failures: window.failures + (failed ? 1 : 0) - (evicted & failedBit),
      slowCalls: window.slowCalls + (slow ? 1 : 0) - ((evicted & slowBit) >> 1)
    }
  }

  const timeSpec = spec as Extract<WindowSpec, { _tag: "Time" }>
  const rotated = rotate(window, timeSpec, now)
  const counts = rotated.counts.slice()
  const last = counts.length - 3
  counts[last] = counts[last]! + 1
  counts[last + 1] = counts[last + 1]! + (failed ? 1 : 0)
  counts[last + 2] = counts[last + 2]! + (slow ? 1 : 0)
  return {
    _tag: "Time",
    counts,
    newest: rotated.newest,
    calls: rotated.calls + 1,
    failures: rotated.failures + (failed ? 1 : 0),
    slowCalls: rotated.slowCalls + (slow ? 1 : 0)
  }
}

/**
 * Returns the window's totals as of `now`: a time window leaves out buckets that expired since the last call.
 */
export const totalsAt = (window: Window, spec: WindowSpec, now: number): Totals =>
  window._tag === "Calls" ? window : rotate(window, spec as Extract<WindowSpec, { _tag: "Time" }>, now)
