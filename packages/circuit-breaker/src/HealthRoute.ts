/**
 * A route for `@effect/platform`'s `HttpRouter` that serves {@link CircuitBreaker.health} as JSON: every breaker in
 * the process, with its state and counts.
 *
 * @since 0.1.0
 */
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import { health } from "./CircuitBreaker.js"

/**
 * The path {@link route} serves when no other is given.
 *
 * @example
 * ```ts
 * import * as HealthRoute from "@effect-resilience/circuit-breaker/HealthRoute"
 *
 * console.log(`circuit breakers at ${HealthRoute.defaultPath}`)
 * ```
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultPath = "/health/circuit-breakers"

/**
 * The handler that answers with the health report as JSON, status 200, for apps that mount it themselves.
 *
 * @example
 * ```ts
 * import * as HealthRoute from "@effect-resilience/circuit-breaker/HealthRoute"
 * import { HttpRouter } from "@effect/platform"
 *
 * const router = HttpRouter.empty.pipe(HttpRouter.get("/internal/breakers", HealthRoute.handler))
 * ```
 *
 * @since 0.1.0
 * @category handlers
 */
export const handler: Effect.Effect<HttpServerResponse.HttpServerResponse> = Effect.map(health, (report) =>
  HttpServerResponse.unsafeJson(report, { headers: { "cache-control": "no-store" } })
)

/**
 * Adds a `GET` route at `path` that serves the health report, to a router given data-first or in a pipe.
 *
 * @example
 * ```ts
 * import * as HealthRoute from "@effect-resilience/circuit-breaker/HealthRoute"
 * import { HttpRouter, HttpServerResponse } from "@effect/platform"
 *
 * const router = HttpRouter.empty.pipe(
 *   HttpRouter.get("/", HttpServerResponse.text("ok")),
 *   HealthRoute.route()
 * )
 * ```
 *
 * @since 0.1.0
 * @category routing
 */
export const route =
  (path: `/${string}` = defaultPath) =>
  <E, R>(router: HttpRouter.HttpRouter<E, R>): HttpRouter.HttpRouter<E, R> =>
    HttpRouter.get(router, path, handler)
