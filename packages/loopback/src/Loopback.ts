/**
 * HTTP servers on an ephemeral port of 127.0.0.1 whose every response a test decides, for tests that need a real
 * upstream without leaving the machine.
 *
 * @since 0.1.0
 */
import { createServer } from "node:http"
import * as HttpServer from "@effect/platform/HttpServer"
import type * as HttpServerError from "@effect/platform/HttpServerError"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Ref from "effect/Ref"
import * as Scope from "effect/Scope"

/**
 * A running loopback server.
 *
 * @example
 * ```ts
 * import { Loopback } from "@effect-resilience/loopback"
 * import { HttpServerResponse } from "@effect/platform"
 * import { Effect } from "effect"
 *
 * const program = Effect.scoped(
 *   Effect.gen(function* () {
 *     const server = yield* Loopback.serve(() => Effect.succeed(HttpServerResponse.text("ok")))
 *     return `${server.url} answered ${yield* server.requests} requests`
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Server {
  /** The origin, `http://127.0.0.1:PORT`, with no trailing slash. */
  readonly url: string
  readonly port: number
  /** The number of requests the server has received so far. */
  readonly requests: Effect.Effect<number>
}

/**
 * The handler of a loopback server: the request and its zero-based index in arrival order give the response.
 *
 * @example
 * ```ts
 * import { Loopback } from "@effect-resilience/loopback"
 * import { HttpServerResponse } from "@effect/platform"
 * import { Effect } from "effect"
 *
 * // Fails the first three requests, then succeeds.
 * const recovering: Loopback.Handler<never, never> = (_request, index) =>
 *   Effect.succeed(index < 3 ? HttpServerResponse.empty({ status: 503 }) : HttpServerResponse.text("ok"))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Handler<E, R> = (
  request: HttpServerRequest.HttpServerRequest,
  index: number
) => Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>

/**
 * Starts a server on 127.0.0.1 with an ephemeral port, responding to every request with `handler`. Closing the scope
 * stops it.
 *
 * @example
 * ```ts
 * import { Loopback } from "@effect-resilience/loopback"
 * import { HttpServerResponse } from "@effect/platform"
 * import { Effect } from "effect"
 *
 * const failing = Loopback.serve(() => Effect.succeed(HttpServerResponse.empty({ status: 503 })))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const serve = <E, R>(
  handler: Handler<E, R>
): Effect.Effect<Server, HttpServerError.ServeError, Scope.Scope | Exclude<R, HttpServerRequest.HttpServerRequest>> =>
  Effect.gen(function* () {
    const server = yield* NodeHttpServer.make(() => createServer(), { port: 0, host: "127.0.0.1" })
    const count = yield* Ref.make(0)
    const app = Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
      Effect.flatMap(
        Ref.getAndUpdate(count, (n) => n + 1),
        (index) => handler(request, index)
      )
    )
    yield* server.serve(Effect.catchAllCause(app, () => HttpServerResponse.empty({ status: 500 })))

    const address = server.address
    if (address._tag !== "TcpAddress") {
      return yield* Effect.dieMessage("The loopback server did not bind a TCP address")
    }
    return { url: `http://127.0.0.1:${address.port}`, port: address.port, requests: Ref.get(count) }
  })

/**
 * Returns the URL of a port on 127.0.0.1 that nothing listens on: a server is started there and stopped at once, so
 * a request to it fails with a refused connection.
 *
 * @example
 * ```ts
 * import { Loopback } from "@effect-resilience/loopback"
 * import { Effect } from "effect"
 *
 * const refused = Effect.map(Loopback.closedPort, (url) => `${url}/never-answers`)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const closedPort: Effect.Effect<string, HttpServerError.ServeError> = Effect.gen(function* () {
  const scope = yield* Scope.make()
  const server = yield* Scope.extend(
    serve(() => Effect.succeed(HttpServerResponse.empty())),
    scope
  )
  yield* Scope.close(scope, Exit.void)
  return server.url
})

/**
 * Re-exported so that handlers can be written with one import.
 *
 * @since 0.1.0
 * @category re-exports
 */
export { HttpServer, HttpServerRequest, HttpServerResponse }
