import { type ChildProcess, spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { CircuitBreaker } from "@effect-resilience/circuit-breaker"
import { RedisStore } from "@effect-resilience/redis"
import { Deferred, Effect, Fiber, Layer, TestClock } from "effect"
import { Command, Redis } from "ioredis"
import * as Machine from "../../circuit-breaker/src/internal/machine.js"
import * as Codec from "../src/internal/codec.js"
import * as Connection from "../src/internal/connection.js"
import { eventually, inspector, uniqueName, useRedisServer } from "./utils.js"

// Real operating-system processes, each a small program run with tsx, sharing one circuit on one Redis.

const redis = useRedisServer({ beforeAll, afterAll })
const prefix = "process-test"
const packageDir = fileURLToPath(new URL("..", import.meta.url))
const workerPath = fileURLToPath(new URL("./fixtures/worker.ts", import.meta.url))

interface Worker {
  readonly child: ChildProcess
  readonly output: () => ReadonlyArray<string>
  readonly exited: Effect.Effect<number | null>
}

/** Starts a worker process, killed when the scope closes if it is still running. */
const worker = (args: ReadonlyArray<string>) =>
  Effect.acquireRelease(
    Effect.sync((): Worker => {
      const child = spawn(process.execPath, ["--import", "tsx", workerPath, ...args], {
        cwd: packageDir,
        stdio: ["pipe", "pipe", "inherit"]
      })
      const lines: Array<string> = []
      let buffered = ""
      child.stdout!.on("data", (chunk: Buffer) => {
        buffered += chunk.toString("utf8")
        const parts = buffered.split("\n")
        buffered = parts.pop()!
        lines.push(...parts)
      })
      const exit = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
      return { child, output: () => lines, exited: Effect.promise(() => exit) }
    }),
    (running) => Effect.sync(() => running.child.exitCode === null && running.child.kill("SIGKILL"))
  )

const printed = (running: Worker, line: string) =>
  eventually(
    Effect.sync(() => running.output()),
    (lines) => lines.includes(line),
    30_000
  )

describe("processes", () => {
  it.scoped(
    "ten processes lose no failure",
    () =>
      Effect.gen(function* () {
        const name = uniqueName("fleet")
        const url = redis.current().url
        const workers = yield* Effect.forEach(Array.from({ length: 10 }), () =>
          // Ten processes starting on two cores stall their event loops for longer than the default command timeout, and
          // a timed-out call goes to the fallback. This test is about atomicity, so it allows five seconds.
          worker([url, prefix, name, "fail", "0", "40", "5000"])
        )
        yield* Effect.forEach(workers, (running) => printed(running, "ready"), { discard: true })

        for (const running of workers) running.child.stdin!.write("go\n")
        const codes = yield* Effect.forEach(workers, (running) => running.exited, { concurrency: "unbounded" })
        const store = yield* Layer.build(RedisStore.layer({ url, prefix }))
        const breaker = yield* CircuitBreaker.make({ name, failureThreshold: 1_000_000, cooldown: "30 seconds" }).pipe(
          Effect.provide(store)
        )

        expect(codes).toEqual(Array.from({ length: 10 }, () => 0))
        expect(workers.every((running) => running.output().includes("done"))).toBe(true)
        expect(yield* breaker.state).toEqual({ _tag: "Closed", consecutiveFailures: 400 })
      }),
    60_000
  )

  it.scoped(
    "killed trial process releases lease",
    () =>
      Effect.gen(function* () {
        const url = redis.current().url
        const client = yield* inspector(url)
        const name = uniqueName("killed")
        const key = RedisStore.keyOf(prefix, name, "")
        const store = yield* Layer.build(RedisStore.layer({ url, prefix, trialLease: "2 seconds" }))
        const breaker = yield* CircuitBreaker.make({ name, failureThreshold: 3, cooldown: "30 seconds" }).pipe(
          Effect.provide(store)
        )
        yield* Effect.repeatN(Effect.ignore(breaker.protect(Effect.fail("503"))), 2)

        // The worker runs at the end of the cooldown, takes the trial and is killed while its trial runs.
        const holder = yield* worker([url, prefix, name, "trial", "30000", "0", "250"])
        yield* printed(holder, "trial")
        const deadGeneration = Number(yield* Effect.promise(() => client.hget(key, "g")))
        holder.child.kill("SIGKILL")
        yield* holder.exited

        yield* TestClock.adjust("30 seconds")
        const whileLeased = yield* Effect.flip(breaker.protect(Effect.void))
        yield* TestClock.adjust("1999 millis")
        const stillLeased = yield* Effect.flip(breaker.protect(Effect.void))
        yield* TestClock.adjust("1 millis")
        const started = yield* Deferred.make<void>()
        const release = yield* Deferred.make<void>()
        const successor = yield* Effect.fork(
          breaker.protect(Effect.zipRight(Deferred.succeed(started, undefined), Deferred.await(release)))
        )
        yield* Deferred.await(started)
        const successorGeneration = Number(yield* Effect.promise(() => client.hget(key, "g")))
        const fenced = yield* lateOutcome(url, key, deadGeneration, 32_000)
        yield* Deferred.succeed(release, undefined)
        yield* Fiber.join(successor)

        expect(whileLeased).toMatchObject({ _tag: "CircuitBreakerOpen", state: "HalfOpen" })
        expect(stillLeased).toMatchObject({ _tag: "CircuitBreakerOpen", state: "HalfOpen" })
        expect(successorGeneration).toBe(deadGeneration + 1)
        expect(fenced).toEqual({ _tag: "HalfOpen", trialRunning: true, generation: successorGeneration })
        expect(yield* breaker.state).toEqual({ _tag: "Closed", consecutiveFailures: 0 })
      }),
    60_000
  )
})

/**
 * Sends the dead trial's failure as it would arrive late, straight through the script, and returns the state after it.
 */
const lateOutcome = (url: string, key: string, generation: number, now: number) =>
  Effect.acquireUseRelease(
    Effect.sync(() => new Redis(url)),
    (client) => {
      const trips: ReadonlyArray<Machine.Trip> = [{ _tag: "ConsecutiveFailures", threshold: 3 }]
      const closed = Machine.initialFor(trips)
      const policy: Machine.Policy = {
        trips,
        successThreshold: 1,
        cooldowns: [30_000],
        maxCooldownMillis: 600_000,
        initial: closed,
        closed
      }
      const connection = Connection.make(client, Command, 5_000)
      const operation: Codec.ScriptOperation = {
        _tag: "Record",
        generation,
        call: { outcome: "Failure", durationMillis: 2_000, minCooldownMillis: 0 }
      }
      return connection
        .run(key, [...Codec.operationArgs(operation, now, 2_000, 3_600_000), ...Codec.policyArgs(policy)])
        .pipe(
          Effect.map((reply) => {
            const state = Codec.decodeReply(reply, policy, now).step.state
            return state._tag === "HalfOpen"
              ? { _tag: state._tag, trialRunning: state.trialRunning, generation: state.generation }
              : { _tag: state._tag }
          }),
          Effect.orDie
        )
    },
    (client) => Effect.promise(() => client.quit())
  )
