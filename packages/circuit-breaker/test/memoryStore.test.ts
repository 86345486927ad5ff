import { Store } from "@effect-resilience/circuit-breaker"
import { StoreSuite } from "@effect-resilience/loopback"

let count = 0

StoreSuite.run("memory store", Store.layerMemory, { uniqueName: () => `memory-suite-${++count}` })
