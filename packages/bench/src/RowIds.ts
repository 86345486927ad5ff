/**
 * Identifiers of the rows that baselines and targets refer to.
 */

export const bareSync = "effect3.bare.sync"
export const protectSync = "effect3.protect.sync"
export const closedSteps = "effect3.steps.closed"
export const bareAsync = "effect3.bare.async"
export const protectAsync = "effect3.protect.async"
export const barePromise = "promise.bare"
export const cockatielAsync = "cockatiel.async"
export const opossumAsync = "opossum.async"
export const opossumAsyncTimeout = "opossum.async.timeout"
export const effect4BareSync = "effect4.bare.sync"
export const effect4Sync = "effect4.breaker.sync"
export const effect4BareAsync = "effect4.bare.async"
export const effect4Async = "effect4.breaker.async"

export const bareFail = "effect3.bare.fail"
export const protectRejected = "effect3.protect.rejected"
export const rejectionSteps = "effect3.steps.rejection"
export const bareRejectedPromise = "promise.bare.rejected"
export const cockatielRejected = "cockatiel.rejected"
export const opossumRejected = "opossum.rejected"
export const effect4BareFail = "effect4.bare.fail"
export const effect4Rejected = "effect4.breaker.rejected"
export const bareConcurrentFail = "effect3.bare.concurrent.fail"
export const protectHalfOpen = "effect3.protect.halfOpen"

export const keyedBareSync = "effect3.keyed.bare.sync"
export const keyedProtect = (keys: number) => `effect3.keyed.${keys}`

export const partsBareSync = "effect3.parts.bare.sync"

export const mapHeap = (keys: number) => `heap.map.${keys}`
export const keyedHeap = (keys: number) => `heap.effect3.keyed.${keys}`
export const effect4Heap = (keys: number) => `heap.effect4.${keys}`
export const cockatielHeap = (breakers: number) => `heap.cockatiel.${breakers}`
export const opossumHeap = (breakers: number) => `heap.opossum.${breakers}`

export const idleNothing = "idle.nothing"
export const keyedIdle = (keys: number) => `idle.effect3.keyed.${keys}`
export const effect4Idle = (keys: number) => `idle.effect4.${keys}`
export const cockatielIdle = (breakers: number) => `idle.cockatiel.${breakers}`
export const opossumIdle = (breakers: number) => `idle.opossum.${breakers}`

export const memoryStoreSequential = "store.memory.sequential"
export const redisStoreSequential = "store.redis.sequential"
export const memoryStoreConcurrent = "store.memory.concurrent"
export const redisStoreConcurrent = "store.redis.concurrent"
export const memoryStoreRoundTrips = "store.memory.roundTrips"
export const redisStoreRoundTripsSequential = "store.redis.roundTrips.sequential"
export const redisStoreRoundTripsConcurrent = "store.redis.roundTrips.concurrent"
