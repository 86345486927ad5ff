/**
 * @since 0.1.0
 */
export * as Cli from "./Cli.js"
/**
 * @since 0.1.0
 */
export * as Command from "./Command.js"
/**
 * @since 0.3.0
 */
export * as Fleet from "./Fleet.js"
/**
 * @since 0.1.0
 */
export * as Replay from "./Replay.js"
/**
 * @since 0.1.0
 */
export * as Report from "./Report.js"
/**
 * @since 0.1.0
 */
export * as Scenario from "./Scenario.js"
/**
 * @since 0.2.0
 */
export * as ScenarioClock from "./ScenarioClock.js"
/**
 * @since 0.1.0
 */
export * as SeededRandom from "./SeededRandom.js"
/**
 * @since 0.1.0
 */
export * as Upstream from "./Upstream.js"
/**
 * @since 0.1.0
 */
export * as Workers from "./Workers.js"
