import type * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FiberHandle from "effect/FiberHandle"
import type * as Scope from "effect/Scope"

/**
 * Ends of cooldowns, kept in a binary min-heap by time, driven by at most one fiber per breaker.
 *
 * The fiber sleeps until the earliest deadline, runs every deadline that is due, and ends when none is left, so a
 * breaker with no Open circuit owns no fiber and no timer, however many keys it holds.
 *
 * @internal
 */
export interface CooldownScheduler {
  /** Calls `onDue(key, generation)` once the `Clock` reaches `at` (epoch milliseconds). */
  readonly schedule: (key: string, generation: number, at: number) => void
}

interface Deadline {
  readonly key: string
  readonly generation: number
  readonly at: number
}

const push = (heap: Array<Deadline>, deadline: Deadline): void => {
  heap.push(deadline)
  let index = heap.length - 1
  while (index > 0) {
    const parent = (index - 1) >> 1
    if (heap[parent]!.at <= heap[index]!.at) break
    ;[heap[parent], heap[index]] = [heap[index]!, heap[parent]!]
    index = parent
  }
}

const pop = (heap: Array<Deadline>): Deadline | undefined => {
  const top = heap[0]
  const last = heap.pop()
  if (heap.length === 0 || last === undefined) {
    return top
  }

  heap[0] = last
  let index = 0
  for (;;) {
    const left = index * 2 + 1
    const right = left + 1
    let smallest = index
    if (left < heap.length && heap[left]!.at < heap[smallest]!.at) smallest = left
    if (right < heap.length && heap[right]!.at < heap[smallest]!.at) smallest = right
    if (smallest === index) break
    ;[heap[smallest], heap[index]] = [heap[index]!, heap[smallest]!]
    index = smallest
  }
  return top
}

/**
 * Creates a scheduler whose fiber lives in the current scope and runs with the `Clock` of the context it was made
 * in. Closing the scope interrupts the fiber, so no timer outlives the breaker.
 *
 * @internal
 */
export const make = (
  clock: Clock.Clock,
  onDue: (key: string, generation: number) => Effect.Effect<void>
): Effect.Effect<CooldownScheduler, never, Scope.Scope> =>
  Effect.gen(function* () {
    const run = yield* FiberHandle.makeRuntime<never, never, void>()
    const heap: Array<Deadline> = []
    // The deadline the running fiber sleeps until, or undefined when no fiber runs.
    let sleepingUntil: number | undefined

    // Taking the due deadlines and applying them is one uninterruptible step, so a restart of the fiber can never
    // drop a deadline that was already taken off the heap.
    const runDue = Effect.uninterruptible(
      Effect.suspend(() => {
        const now = clock.unsafeCurrentTimeMillis()
        const due: Array<Deadline> = []
        while (heap.length > 0 && heap[0]!.at <= now) {
          due.push(pop(heap)!)
        }
        return Effect.forEach(due, (deadline) => onDue(deadline.key, deadline.generation), { discard: true })
      })
    )

    const loop: Effect.Effect<void> = Effect.suspend(() => {
      const next = heap[0]
      if (next === undefined) {
        sleepingUntil = undefined
        return Effect.void
      }

      sleepingUntil = next.at
      const delay = next.at - clock.unsafeCurrentTimeMillis()
      const wait = delay > 0 ? Effect.sleep(Duration.millis(delay)) : Effect.void
      return wait.pipe(Effect.zipRight(runDue), Effect.zipRight(loop))
    })

    return {
      schedule: (key, generation, at) => {
        push(heap, { key, generation, at })
        if (sleepingUntil === undefined || at < sleepingUntil) {
          sleepingUntil = at
          // Replaces (and interrupts) the fiber sleeping until a later deadline.
          run(loop)
        }
      }
    }
  })
