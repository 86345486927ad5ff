import { afterAll, beforeAll } from "@effect/vitest"
import { StoreSuite } from "@effect-resilience/loopback"
import { RedisStore } from "@effect-resilience/redis"
import { Effect, Layer } from "effect"
import { uniqueName, useRedisServer } from "./utils.js"

const redis = useRedisServer({ beforeAll, afterAll })

const layer = Layer.unwrapEffect(Effect.sync(() => RedisStore.layer({ url: redis.current().url, prefix: "suite" })))

StoreSuite.run("redis store", layer, { uniqueName: () => uniqueName("suite") })
