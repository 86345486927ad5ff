/**
 * The Redis store's figures: calls per second per process and Redis round trips per call. The store is not written
 * yet, so this section reports that nothing was measured.
 */
import type { Section } from "../Report.js"

export const title = "Redis store (calls per second per process, Redis round trips per call)"

export const notMeasured = "not measured: the Redis store does not exist yet"

export const run = async (): Promise<Section> => ({ title, rows: [], notMeasured })
