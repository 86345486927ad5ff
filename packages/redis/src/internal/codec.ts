import type { Store } from "@effect-resilience/circuit-breaker"

type Trip = Store.Policy["trips"][number]
type ClosedState = Extract<Store.CircuitState, { _tag: "Closed" }>
type Window = NonNullable<ClosedState["windows"][number]>
type Admission = NonNullable<Store.Step["result"]>

/** Writes a number as the script reads it back: finite numbers exactly, infinities by name. */
const text = (value: number): string => {
  if (value === Number.POSITIVE_INFINITY) return "inf"
  if (value === Number.NEGATIVE_INFINITY) return "-inf"
  return String(value)
}

const parse = (value: string): number => {
  if (value === "inf") return Number.POSITIVE_INFINITY
  if (value === "-inf") return Number.NEGATIVE_INFINITY
  return Number(value)
}

/**
 * The policy as the script's trailing arguments. Computed once per breaker, since every operation sends it.
 *
 * @internal
 */
export const policyArgs = (policy: Store.Policy): ReadonlyArray<string> => {
  const args: Array<string> = [
    policy.initial._tag === "Closed" ? "Closed" : "Disabled",
    text(policy.successThreshold),
    text(policy.maxCooldownMillis),
    text(policy.cooldowns.length),
    ...policy.cooldowns.map(text),
    text(policy.trips.length)
  ]
  for (const trip of policy.trips) {
    args.push(...tripArgs(trip))
  }
  return args
}

const tripArgs = (trip: Trip): ReadonlyArray<string> => {
  switch (trip._tag) {
    case "ConsecutiveFailures":
      return ["C", text(trip.threshold), "0", "0", "", "0", "0"]
    case "FailureRate":
    case "SlowCallRate": {
      const window =
        trip.window._tag === "Calls"
          ? ["N", text(trip.window.size), "0"]
          : ["T", text(trip.window.durationMillis), text(trip.window.buckets)]
      const slowMillis = trip._tag === "SlowCallRate" ? trip.slowCallMillis : 0
      return [
        trip._tag === "FailureRate" ? "F" : "S",
        text(trip.threshold),
        text(trip.minimumCalls),
        text(slowMillis)
      ].concat(window)
    }
  }
}

/**
 * An operation the script applies: the breaker's operations, a renewal of the trial lease, or a plain read.
 *
 * @internal
 */
export type ScriptOperation =
  | Store.Operation
  | { readonly _tag: "RenewLease"; readonly generation: number }
  | { readonly _tag: "Read" }

const outcomeLetter = { Success: "S", Failure: "F", Ignored: "I" } as const
const commandLetter = { Isolate: "I", Reset: "R", Disable: "D" } as const

/**
 * The first eight arguments of the script for `operation` at `now`.
 *
 * @internal
 */
export const operationArgs = (
  operation: ScriptOperation,
  now: number,
  leaseMillis: number,
  idleMillis: number
): Array<string> => {
  const tail = [text(leaseMillis), text(idleMillis)]
  switch (operation._tag) {
    case "Admit":
      return ["A", text(now), "", "", "", "", ...tail]
    case "Record": {
      const call = operation.call
      return [
        "R",
        text(now),
        text(operation.generation),
        outcomeLetter[call.outcome],
        text(call.durationMillis),
        text(call.minCooldownMillis),
        ...tail
      ]
    }
    case "CooldownElapsed":
      return ["C", text(now), text(operation.generation), "", "", "", ...tail]
    case "Observe":
      return ["O", text(now), "", "", "", "", ...tail]
    case "Command":
      return ["K", text(now), commandLetter[operation.command], "", "", "", ...tail]
    case "RenewLease":
      return ["L", text(now), text(operation.generation), "", "", "", ...tail]
    case "Read":
      return ["G", text(now), "", "", "", "", ...tail]
  }
}

/**
 * The result of one run of the script: the machine's step, the trial lease's expiry (infinite when no trial runs), and
 * a note: `"lapsed"` when an admission found the running trial's lease lapsed, `"renewed"` or `"stale"` for a renewal.
 *
 * @internal
 */
export interface Reply {
  readonly step: Store.Step
  readonly leaseUntil: number
  readonly note: string
}

const decodeWindow = (encoded: string): Window | undefined => {
  if (encoded === "") return undefined
  const fields = encoded.split("|")
  if (fields[0] === "N") {
    const ring = fields[6] ?? ""
    const slots = new Array<number>(ring.length)
    for (let index = 0; index < ring.length; index++) {
      slots[index] = ring.charCodeAt(index) - 48
    }
    return {
      _tag: "Calls",
      ring: slots,
      next: parse(fields[2]!),
      calls: parse(fields[3]!),
      failures: parse(fields[4]!),
      slowCalls: parse(fields[5]!)
    }
  }
  return {
    _tag: "Time",
    counts: (fields[7] ?? "").split(",").map(parse),
    newest: parse(fields[3]!),
    calls: parse(fields[4]!),
    failures: parse(fields[5]!),
    slowCalls: parse(fields[6]!)
  }
}

const decodeState = (reply: ReadonlyArray<string>, policy: Store.Policy): Store.CircuitState => {
  // The policy's own objects stand for the initial and the untouched Closed state, as in the memory store, so that a
  // reset of an untouched circuit reports no transition on either side.
  if (reply[2] === "2") return policy.initial
  if (reply[2] === "1") return policy.closed

  const generation = parse(reply[1]!)
  const backoff = {
    openings: parse(reply[3]!),
    openSince: parse(reply[4]!),
    lastOpenMillis: parse(reply[5]!),
    closedAt: parse(reply[6]!)
  }
  switch (reply[0]) {
    case "Closed":
      return {
        _tag: "Closed",
        generation,
        consecutiveFailures: parse(reply[7]!),
        // Windows that recorded no call since the state was made are the policy's own array, as in the machine, because
        // the machine recognises a reset with nothing to report by that identity.
        windows:
          reply[21] === "1"
            ? policy.trips.map((_, index) => decodeWindow(reply[22 + index] ?? ""))
            : policy.closed.windows,
        backoff
      }
    case "Open":
      return { _tag: "Open", generation, openedAt: parse(reply[8]!), openUntil: parse(reply[9]!), backoff }
    case "HalfOpen":
      return {
        _tag: "HalfOpen",
        generation,
        trialRunning: reply[10] === "1",
        trialSuccesses: parse(reply[11]!),
        backoff
      }
    case "Isolated":
      return { _tag: "Isolated", generation, since: parse(reply[12]!) }
    default:
      return { _tag: "Disabled", generation, since: parse(reply[12]!) }
  }
}

const decodeAdmission = (reply: ReadonlyArray<string>): Admission | undefined => {
  switch (reply[14]) {
    case "1":
      return { admitted: true, generation: parse(reply[15]!), trial: reply[16] === "1" }
    case "0":
      return {
        admitted: false,
        state: reply[15] as "Open" | "HalfOpen" | "Isolated",
        retryAfterMillis: parse(reply[16]!)
      }
    default:
      return undefined
  }
}

/**
 * Decodes the script's reply; `now` is the time the operation was applied at, which every transition carries.
 *
 * @internal
 */
export const decodeReply = (reply: ReadonlyArray<string>, policy: Store.Policy, now: number): Reply => {
  const from = reply[17]
  const transition =
    from === undefined || from === ""
      ? undefined
      : {
          from: from as Store.StoreTransition["from"],
          to: reply[18] as Store.StoreTransition["to"],
          at: now,
          reason: reply[19]!
        }
  return {
    step: { state: decodeState(reply, policy), result: decodeAdmission(reply), transition },
    leaseUntil: parse(reply[13]!),
    note: reply[20] ?? ""
  }
}
