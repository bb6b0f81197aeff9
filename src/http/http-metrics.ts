// The HTTP side of the metrics: one observation per request (count by method and code, latency by
// method and route template, uploads and downloads per repository) and the scrape endpoint.
// Labels come from the route table's templates, never raw paths, so series stay bounded.
import type { Hono, MiddlewareHandler } from 'hono'
import type { AppContext, AppEnv } from './body.js'
import { routeOf } from '../api/route-table.js'
import type { OutpostMetrics } from '../metrics/outpost-metrics.js'

export interface MetricsRouteOptions {
  metrics: OutpostMetrics
  /** extensions.metrics.prometheus.path */
  path: string
  /**
   * Access control's say on a scrape: a refusal (401 with its challenge, or 403) to answer
   * instead, or undefined to serve the metrics. Absent: /metrics is public.
   */
  authorize?: (c: AppContext) => Response | undefined | Promise<Response | undefined>
}

const MANIFEST = '/v2/<name>/manifests/<reference>'
const BLOB = '/v2/<name>/blobs/<digest>'
const UPLOADS = new Set(['/v2/<name>/blobs/uploads/', '/v2/<name>/blobs/uploads/<reference>'])
/** Templates equal to their own path, which the check for a template cannot tell apart. */
const STATIC_TEMPLATES = new Set(['/v2/', '/v2/_catalog'])

/** Add the request observer (as the first middleware after the request log) and the endpoint. */
export function installMetrics(app: Hono<AppEnv>, options: MetricsRouteOptions): void {
  const { metrics, path } = options
  let staticPaths: Set<string> | undefined
  const routeLabel = (route: string): string => {
    // The app's own fixed paths (/livez, /metrics, ...), known once every route is registered.
    staticPaths ??= new Set(app.routes.map((r) => r.path).filter((p) => !/[*:]/.test(p)))
    if (route.includes('<') || STATIC_TEMPLATES.has(route) || staticPaths.has(route)) return route
    return route === 'ratelimited' ? route : 'other'
  }
  app.use(observeRequests(metrics, routeLabel))
  app.get(path, async (c) => {
    c.set('route', path)
    const refused = await options.authorize?.(c)
    if (refused) return refused
    return c.body(await metrics.text(), 200, { 'Content-Type': metrics.contentType })
  })
}

function observeRequests(
  metrics: OutpostMetrics,
  routeLabel: (route: string) => string,
): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const began = performance.now()
    const socket = c.env?.incoming?.socket
    const readBefore = socket?.bytesRead ?? 0
    try {
      await next()
    } finally {
      const sent = c.get('sent')
      // A failure that escaped every handler is answered 500 by the adapter.
      const status = sent?.status ?? c.res?.status ?? 500
      const route = c.get('route')
      metrics.observeRequest(
        c.req.method,
        status,
        routeLabel(route),
        (performance.now() - began) / 1000,
      )
      if (status < 300) observeTransfer(c, metrics, route, status, readBefore)
    }
  }
}

/** Pushes and pulls per repository: manifests count as images, every body's bytes count. */
function observeTransfer(
  c: AppContext,
  metrics: OutpostMetrics,
  route: string,
  status: number,
  readBefore: number,
): void {
  const method = c.req.method
  const push = method === 'PUT' || method === 'PATCH' || method === 'POST'
  const pull = method === 'GET'
  if (!((push && (route === MANIFEST || UPLOADS.has(route))) || (pull && isDownload(route)))) return
  const name = routeOf(c)?.params.name
  if (!name) return
  if (push) {
    // Content-Length when declared; a chunked body is measured on the socket.
    const declared = c.req.header('content-length')
    const socket = c.env?.incoming?.socket
    const bytes =
      declared !== undefined ? Number(declared) : socket ? socket.bytesRead - readBefore : 0
    metrics.observeUpload(name, bytes || 0, route === MANIFEST && status === 201)
  } else {
    const length = c.get('sent')?.bytes ?? Number(c.res.headers.get('content-length') ?? 0)
    metrics.observeDownload(name, length || 0, route === MANIFEST)
  }
}

function isDownload(route: string): boolean {
  return route === MANIFEST || route === BLOB
}
