import { Store } from "@effect-resilience/circuit-breaker"
import * as StoreSuite from "./StoreSuite.js"

let count = 0

StoreSuite.run("memory store", Store.layerMemory, { uniqueName: () => `memory-suite-${++count}` })
