import { afterAll, beforeAll } from "@effect/vitest"
import { RedisStore } from "@effect-resilience/redis"
import { Effect, Layer } from "effect"
// The suite lives with the in-memory store, the reference every other store is held to.
import * as StoreSuite from "../../circuit-breaker/test/StoreSuite.js"
import { uniqueName, useRedisServer } from "./utils.js"

const redis = useRedisServer({ beforeAll, afterAll })

const layer = Layer.unwrapEffect(Effect.sync(() => RedisStore.layer({ url: redis.current().url, prefix: "suite" })))

StoreSuite.run("redis store", layer, { uniqueName: () => uniqueName("suite") })
