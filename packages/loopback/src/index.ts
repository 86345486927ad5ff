/**
 * @since 0.1.0
 */
export * as Loopback from "./Loopback.js"

/**
 * @since 0.1.0
 */
export * as RedisServer from "./RedisServer.js"
