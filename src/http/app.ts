// The HTTP face of the registry: the distribution-spec routes, health endpoints, one log line
// per request, and the OCI error body for every failure. Handlers only call the registry API.
import { operatorError } from '../log/operator-error.js'
import { Hono } from 'hono'
import { auditUser, type Logger } from '../log/logger.js'
import { installMetrics, type MetricsRouteOptions } from './http-metrics.js'
import { limitRequests, type HttpLimits } from './limits.js'
import { closeAfterUnreadBody } from './unread-body.js'
import { accessMiddleware, type Access } from '../auth/index.js'
import { Registry, RegistryError, RegistryRouter } from '../registry/index.js'
import { deleteBlob, getBlob } from './blobs.js'
import { API_VERSION_HEADER, type AppContext, type AppEnv } from './body.js'
import { errorReply } from '../api/errors.js'
import { listCatalog, listTags } from './listing.js'
import { deleteManifest, getManifest, putManifest } from './manifests.js'
import { listReferrers } from './referrers.js'
import { routeOf, type MatchedRoute } from '../api/route-table.js'
import type { BackendHealth } from '../storage/index.js'
import type { PullThrough } from '../upstream/index.js'
import { appendUpload, cancelUpload, finishUpload, startUpload, uploadStatus } from './uploads.js'

export interface AppState {
  /** false while starting and once shutdown began: /readyz answers 503 */
  ready: boolean
  started: boolean
  /** requests being served right now (background work yields to them) */
  inFlight?: number
  /** each store's backends ("/" for the default store): /readyz is 503 while one is down */
  backends?: Array<{ store: string; health: BackendHealth }>
}

export interface AppOptions {
  /** one store, or a router over the default store and its subPaths */
  registry: Registry | RegistryRouter
  logger: Logger
  state?: AppState
  /** the last scrub report, when scrub is enabled (GET /v2/_outpost/scrub) */
  scrubStatus?: () => unknown
  /** the periodic mirror's status, when a registry has a pollInterval (GET /v2/_outpost/mirror) */
  mirrorStatus?: () => unknown
  /** the pull-through cache (extensions.sync), consulted for repositories it covers */
  pullThrough?: PullThrough
  /** Prometheus metrics and their endpoint (extensions.metrics) */
  metrics?: MetricsRouteOptions
  /** rate limit and upload idle timeout (src/http/limits.ts) */
  limits?: HttpLimits
  /** authentication and access control (src/auth/); absent: open to all */
  access?: Access
  /** the operator's page and its JSON (src/ui/lazy.ts); absent: neither is served */
  operator?: OperatorEndpoints
}

/** What src/ui/ answers (it is loaded lazily, so the app holds only these functions). */
export interface OperatorEndpoints {
  /** extensions.ui.enable: GET / and /repository/<name>; the JSON answers either way */
  pageEnabled: boolean
  home(c: AppContext): Promise<Response>
  repository(c: AppContext): Promise<Response>
  repositoriesJson(c: AppContext): Promise<Response>
  repositoryJson(c: AppContext): Promise<Response>
  statusJson(c: AppContext): Promise<Response>
}

/** Requests that change something get an audit line (with the user) and an info line. */
const MUTATING = new Set(['PUT', 'POST', 'PATCH', 'DELETE'])

type Handler = (
  c: AppContext,
  router: RegistryRouter,
  p: MatchedRoute['params'],
  pull: PullThrough | undefined,
) => Promise<Response>

const HANDLERS: Record<MatchedRoute['name'], Partial<Record<string, Handler>>> = {
  base: { GET: async (c) => c.json({}) },
  catalog: { GET: (c, r) => listCatalog(c, r) },
  tags: { GET: (c, r, p) => listTags(c, r, p.name!) },
  manifest: {
    GET: (c, r, p, pull) => getManifest(c, r, p.name!, p.reference!, pull),
    PUT: (c, r, p) => putManifest(c, r, p.name!, p.reference!),
    DELETE: (c, r, p) => deleteManifest(c, r, p.name!, p.reference!),
  },
  blob: {
    GET: (c, r, p, pull) => getBlob(c, r, p.name!, p.digest!, pull),
    DELETE: (c, r, p) => deleteBlob(c, r, p.name!, p.digest!),
  },
  uploads: { POST: (c, r, p) => startUpload(c, r, p.name!) },
  upload: {
    GET: (c, r, p) => uploadStatus(c, r, p.name!, p.session!),
    PATCH: (c, r, p) => appendUpload(c, r, p.name!, p.session!),
    PUT: (c, r, p) => finishUpload(c, r, p.name!, p.session!),
    DELETE: (c, r, p) => cancelUpload(c, r, p.name!, p.session!),
  },
  referrers: { GET: (c, r, p, pull) => listReferrers(c, r, p.name!, p.digest!, pull) },
}

export function createApp(options: AppOptions): Hono<AppEnv> {
  const { logger } = options
  const router =
    options.registry instanceof Registry ? new RegistryRouter(options.registry) : options.registry
  const state = options.state ?? { ready: true, started: true }
  const app = new Hono<AppEnv>()

  // First, so it sees the answer as sent, after the log line and metrics have seen it.
  app.use(closeAfterUnreadBody())
  app.use(async (c, next) => {
    const began = performance.now()
    c.set('route', c.req.path)
    state.inFlight = (state.inFlight ?? 0) + 1
    try {
      await next()
    } finally {
      state.inFlight--
    }
    const sent = c.get('sent')
    const status = sent?.status ?? c.res.status
    const mutating = MUTATING.has(c.req.method)
    if (mutating) {
      const user = auditUser((c.var as { user?: unknown }).user)
      logger.audit({ user, method: c.req.method, path: c.req.path, status })
    }
    // A successful read is the bulk of the traffic and says nothing an operator acts on: on a
    // board every line lands in the journal on the SD card, so reads that succeeded log at
    // debug; writes and failures at info.
    const level = !mutating && status < 400 ? 'debug' : 'info'
    // Measuring a response body costs (its headers build a Response and leave the adapter's
    // fast path): only when the line is written.
    if (!logger.enabled(level)) return
    logger.log(level, 'request', {
      method: c.req.method,
      route: c.get('route'),
      status,
      bytes: sent?.bytes ?? (await bodyBytes(c.req.method, c.res)),
      ms: Math.round((performance.now() - began) * 10) / 10,
    })
  })

  if (options.metrics) installMetrics(app, options.metrics)
  if (options.limits) app.use(limitRequests(options.limits, logger))
  // Authentication and access control (src/auth/): sets c.get('user') for the audit line.
  if (options.access) app.use(accessMiddleware(options.access, router))

  app.get('/livez', (c) => c.text('ok'))
  app.get('/readyz', async (c) => {
    if (!state.ready) return c.text('not ready', 503)
    // From what requests saw, plus a probe only when a backend is down or unheard of for a
    // while, at most once per interval (src/storage/health.ts): never a backend call per probe
    // of ours, since an S3 link may be metered.
    const reports = await Promise.all(
      (state.backends ?? []).map(async (b) => ({ store: b.store, ...(await b.health.report()) })),
    )
    const down = reports.filter((r) => !r.healthy)
    if (down.length === 0) return c.text('ok')
    return c.json({ ready: false, unavailable: down }, 503)
  })
  app.get('/startupz', (c) => (state.started ? c.text('ok') : c.text('starting', 503)))

  // Outpost's own status under /v2/_outpost/: '_' can never start a repository name.
  app.get('/v2/_outpost/scrub', (c) => {
    c.set('route', '/v2/_outpost/scrub')
    for (const [name, value] of Object.entries(API_VERSION_HEADER)) c.header(name, value)
    return c.json(
      options.scrubStatus
        ? { enabled: true, ...(options.scrubStatus() as object) }
        : { enabled: false },
    )
  })

  app.get('/v2/_outpost/mirror', (c) => {
    c.set('route', '/v2/_outpost/mirror')
    for (const [name, value] of Object.entries(API_VERSION_HEADER)) c.header(name, value)
    // No registry has a pollInterval: say so rather than answer an empty status.
    return c.json(options.mirrorStatus ? options.mirrorStatus() : { enabled: false })
  })

  const operator = options.operator
  if (operator) {
    const json =
      (route: string, handler: (c: AppContext) => Promise<Response>) => (c: AppContext) => {
        c.set('route', route)
        for (const [name, value] of Object.entries(API_VERSION_HEADER)) c.header(name, value)
        return handler(c)
      }
    app.get(
      '/v2/_outpost/repositories',
      json('/v2/_outpost/repositories', operator.repositoriesJson),
    )
    app.get(
      '/v2/_outpost/repositories/*',
      json('/v2/_outpost/repositories/<name>', operator.repositoryJson),
    )
    app.get('/v2/_outpost/status', json('/v2/_outpost/status', operator.statusJson))
    if (operator.pageEnabled) {
      app.get('/', (c) => operator.home(c))
      app.get('/repository/*', (c) => {
        c.set('route', '/repository/<name>')
        return operator.repository(c)
      })
    }
  }

  app.all('/v2/*', async (c) => {
    // distribution-spec: every /v2/ response names the API version.
    for (const [name, value] of Object.entries(API_VERSION_HEADER)) c.header(name, value)
    const route = routeOf(c)
    if (!route) throw new RegistryError('NOT_FOUND', `no such endpoint: ${c.req.path}`)
    c.set('route', route.template)
    const methods = HANDLERS[route.name]
    const method = c.req.method === 'HEAD' ? 'GET' : c.req.method
    const handler = methods[method]
    if (!handler) {
      // RFC 9110 §9.3.2: wherever GET is supported, so is HEAD.
      const allowed = Object.keys(methods).flatMap((m) => (m === 'GET' ? ['GET', 'HEAD'] : [m]))
      c.header('Allow', allowed.join(', '))
      throw new RegistryError(
        'UNSUPPORTED',
        `${c.req.method} is not supported on ${route.template}`,
      )
    }
    return handler(c, router, route.params, options.pullThrough)
  })

  app.onError((err, c) => {
    const reply = errorReply(err)
    if (clientWentAway(err)) {
      // Not our failure: an upload keeps its resumable session, a download just stops.
      logger.info('client disconnected', { route: c.get('route') })
    } else if (reply.internal) {
      const line = operatorError(err)
      logger.error('request failed', {
        route: c.get('route'),
        ...(line ? { error: line } : { error: String(err), stack: (err as Error)?.stack }),
      })
    }
    if (c.req.method === 'HEAD') return c.body(null, reply.status as 500)
    return c.json(reply.body, reply.status as 500)
  })
  app.notFound((c) => c.json(errorReply(new RegistryError('NOT_FOUND', 'not found')).body, 404))
  return app
}

/** Bytes of a response that was not streamed: its Content-Length, or the measured small body. */
async function bodyBytes(method: string, res: Response): Promise<number> {
  if (method === 'HEAD' || !res.body) return 0
  const length = res.headers.get('content-length')
  if (length !== null) return Number(length)
  return (await res.clone().arrayBuffer()).byteLength
}

/** A request body cut short by the client (connection reset, aborted upload). */
function clientWentAway(err: unknown): boolean {
  const e = err as NodeJS.ErrnoException | null
  return (
    e?.name === 'AbortError' ||
    e?.code === 'ECONNRESET' ||
    e?.code === 'ERR_STREAM_PREMATURE_CLOSE' ||
    e?.code === 'ABORT_ERR'
  )
}
