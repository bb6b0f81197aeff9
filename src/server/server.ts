// Running the registry: open the storage (the default store and one per subpath), serve HTTP,
// run background upkeep per store, and stop cleanly.
// On stop it refuses new connections, lets in-flight requests finish for a bounded time, then
// writes the clean-stop marker so the next start trusts what this run verified.
import { mkdir } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import type { Server } from 'node:http'
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https'
import { serve as honoServe } from '@hono/node-server'
import type { OutpostConfig } from '../config/index.js'
import { createApp, type AppState } from '../http/index.js'
import type { Logger } from '../log/logger.js'
import type { OwnedStorage } from './storage-owner.js'
export { RootMissingError } from './store.js'
import { openStores, storeLabel } from './stores.js'
import { syncDrivers } from './backends.js'
import { sharedBudget, startUpkeep, type Upkeep } from './upkeep.js'
import { PullThrough } from '../upstream/index.js'
import { HttpLimits } from '../http/limits.js'
import type { OutpostMetrics } from '../metrics/index.js'
import { notifySystemd } from './notify.js'
import { reloadConfig, type Reloader, type ReloadResult } from './reload.js'
import { tlsServerOptions } from './tls.js'
import { Access } from '../auth/index.js'
import { onDemandOnly, startMirror } from './mirror-wiring.js'
import { operatorPage } from './operator-wiring.js'
import { Closers, type CloseGroup } from '../util/closers.js'

type FetchCallback = Parameters<typeof honoServe>[0]['fetch']

export interface RunningServer {
  url: string
  port: number
  /** the default store's storage and upkeep */
  storage: OwnedStorage
  upkeep: Upkeep
  /** every store, the default one first; `route` ("a" for "/a") names a subpath's */
  stores: Array<{ route?: string; storage: OwnedStorage; upkeep: Upkeep }>
  /** authentication and access control; SIGHUP calls `access.reload(newConfig.http)` */
  access: Access
  /** Prometheus metrics (absent when extensions.metrics is disabled) */
  metrics?: OutpostMetrics
  /** what SIGHUP reloads besides TLS, GC, scrub and limits: register access control here */
  reloaders: Reloader[]
  /** SIGHUP: apply a new configuration without dropping connections (src/server/reload.ts) */
  reload(config: OutpostConfig): Promise<ReloadResult>
  /** stop accepting, drain for up to the shutdown timeout, release the storage */
  close(): Promise<void>
}

export async function startServer(config: OutpostConfig, logger: Logger): Promise<RunningServer> {
  // An unreadable htpasswd file stops the start before the storage is locked.
  const access = await Access.open(config.http.access, (msg, fields) => logger.warn(msg, fields))
  if (config.storage.createRoot) await mkdir(config.storage.rootDirectory, { recursive: true })
  const log = (msg: string, fields?: Record<string, unknown>) => logger.warn(msg, fields)
  // Each resource pushes its close as it opens: a failed start and close() unwind the same
  // stack, last opened first, once.
  const closers = new Closers()
  try {
    const opened = await openStores(config, { holder: 'serve', log, logger })
    closers.push(() => opened.close())
    return await serve(config, logger, { access, opened, closers, log })
  } catch (err) {
    // e.g. the port is taken: the stores must not stay locked by a server that never ran.
    await closers
      .close()
      .catch((failure: unknown) =>
        logger.error('closing after a failed start failed', { error: String(failure) }),
      )
    throw err
  }
}

interface Opened {
  access: Access
  opened: Awaited<ReturnType<typeof openStores>>
  closers: Closers
  log: (msg: string, fields?: Record<string, unknown>) => void
}

async function serve(
  config: OutpostConfig,
  logger: Logger,
  { access, opened, closers, log }: Opened,
): Promise<RunningServer> {
  const root = config.storage.rootDirectory
  const state: AppState = {
    ready: false,
    started: false,
    inFlight: 0,
    backends: opened.stores.flatMap((s) =>
      s.health.map((health) => ({ store: storeLabel(s), health })),
    ),
  }
  const inFlight = () => state.inFlight ?? 0
  // Sync keys accepted for zot's sake that do nothing here (downloadDir) are named at start.
  for (const warning of config.sync?.warnings ?? []) logger.warn(warning)
  // The pull-through cache (extensions.sync): an unreadable credentials file stops the start.
  // Registries with onDemand: true only; the periodic ones are the mirror's (below).
  const onDemand = onDemandOnly(config.sync)
  const pullThrough = onDemand ? await PullThrough.open(opened.router, onDemand, log) : undefined
  if (pullThrough) closers.push(() => pullThrough.close())
  // On stop the background work below stops first, then in-flight requests drain (while the
  // pull-through cache and the stores still serve them): the drain's place is taken now.
  let listening: Server | undefined
  closers.push(() => listening && drain(listening, config.http.shutdownTimeoutMs))
  const background = closers.group()

  const upkeeps = await startUpkeeps(config, logger, opened, inFlight, background)
  const stores: RunningServer['stores'] = opened.stores.map((s, i) => ({
    route: s.route,
    storage: s.storage,
    upkeep: upkeeps[i],
  }))
  const [{ storage, upkeep }] = stores
  const metricsSettings = config.metrics ?? { enabled: true, path: '/metrics' }
  // prom-client is loaded only when metrics are on (it costs ~10 MiB of RSS).
  const metrics = metricsSettings.enabled
    ? new (await import('../metrics/index.js')).OutpostMetrics()
    : undefined
  // The periodic mirror (registries with a pollInterval), loaded only when there is one.
  const mirror = await startMirror(config, opened.router, {
    inFlight,
    metrics,
    log: (msg, fields) => logger.info(msg, fields),
  })
  if (mirror) background.push(() => mirror.stop())
  const limits = new HttpLimits(config.http)
  const app = createApp({
    limits,
    ...(metrics && {
      // Who may read /metrics: http.accessControl.metrics (src/auth/policy.ts).
      metrics: { metrics, path: metricsSettings.path, authorize: (c) => access.metricsRefusal(c) },
    }),
    pullThrough,
    registry: opened.router,
    logger,
    state,
    access,
    scrubStatus: upkeep.scrubber && (() => scrubStatus(stores)),
    mirrorStatus: mirror && (() => mirror.status()),
    // The operator's page (extensions.ui) and its JSON: loaded on first request (src/ui/lazy.ts).
    operator: operatorPage({
      config,
      router: opened.router,
      access,
      state,
      stores,
      hosted: opened.hosted,
      budget: upkeep.budget,
      mirrorStatus: mirror && (() => mirror.status()),
      log: (msg, fields) => logger.warn(msg, fields),
    }),
  })

  let stopping = false
  const server = await listen(config, app.fetch, () => stopping)
  listening = server
  const port = (server.address() as AddressInfo).port
  const scheme = config.http.tls ? 'https' : 'http'
  const url = `${scheme}://${config.http.address.includes(':') ? `[${config.http.address}]` : config.http.address}:${port}`

  state.ready = true
  state.started = true
  // The first mirror pass waits for the stores' startup passes (index refill, dedupe).
  mirror?.start(Promise.all(upkeeps.map((u) => u.startupDone)))
  metrics?.attach(() =>
    stores.map((s) => ({
      store: s.route ? `/${s.route}` : 'default',
      root: s.route ? config.storage.subPaths![s.route].rootDirectory : root,
      gc: () => s.upkeep.collector.counters,
      scrub: () => s.upkeep.scrubber?.counters,
      budget: () => s.upkeep.budget.counters,
    })),
  )
  // SIGHUP reloads these too (each has reload(http, config)), after TLS, GC, scrub and limits.
  const reloaders: Reloader[] = [
    { name: 'http.auth and http.accessControl', reload: (http) => access.reload(http) },
  ]
  let running = config
  logListening(logger, config, url, stores)
  // systemd (Type=notify): ready once listening; the notification does not hold the start.
  void notifySystemd('READY=1', log)

  return {
    url,
    port,
    storage,
    upkeep,
    stores,
    access,
    metrics,
    reloaders,
    async reload(next) {
      const tlsServer = config.http.tls ? (server as unknown as HttpsServer) : undefined
      const result = await reloadConfig(running, next, {
        logger,
        limits,
        tlsServer,
        stores,
        reloaders,
      })
      running = result.config
      return result
    },
    async close() {
      if (stopping) return
      stopping = true
      state.ready = false
      const notified = notifySystemd('STOPPING=1', log)
      await closers.close()
      await notified
      logger.info('stopped cleanly')
    },
  }
}

/** Background upkeep for every store (GC, scrub, dedupe) and the scheduled uplink. */
async function startUpkeeps(
  config: OutpostConfig,
  logger: Logger,
  opened: Opened['opened'],
  inFlight: () => number,
  background: CloseGroup,
): Promise<Upkeep[]> {
  // One budget for all stores: together they get the maintenance allowance, not once each.
  const budget = await sharedBudget(config, inFlight, (msg, fields) => logger.info(msg, fields))
  // With subpaths, GC, scrub and dedupe lines say which store they are about.
  const several = opened.stores.length > 1
  const upkeeps: Upkeep[] = []
  for (const store of opened.stores) {
    const own = { ...config, storage: store.config }
    const name = several ? storeLabel(store) : undefined
    const upkeep = await startUpkeep(store.storage, own, logger, inFlight, budget, name)
    background.push(() => upkeep.stop())
    upkeeps.push(upkeep)
  }
  // uplink.schedule: sync to every uplink target, under the same budget.
  if (config.uplink?.scheduleMs) {
    // Loaded only when scheduled: the uplink brings the AWS SDK with it.
    const { scheduleUplink } = await import('../s3-sync/index.js')
    const log = (msg: string, fields?: Record<string, unknown>) => logger.info(msg, fields)
    background.push(scheduleUplink(config, budget, log, syncDrivers))
  }
  return upkeeps
}

function logListening(
  logger: Logger,
  config: OutpostConfig,
  url: string,
  stores: RunningServer['stores'],
): void {
  const [{ storage }] = stores
  logger.info('listening', {
    url,
    root: config.storage.rootDirectory,
    commit: config.storage.commit,
    dedupe: storage.dedupe,
    gc: config.storage.gc,
    cleanStart: storage.cleanStart,
    ...(stores.length > 1 && {
      subPaths: stores.slice(1).map((s) => ({
        route: storeLabel(s),
        root: config.storage.subPaths![s.route!].rootDirectory,
        dedupe: s.storage.dedupe,
        cleanStart: s.storage.cleanStart,
      })),
    }),
  })
}

/** Listen on http.address and http.port, over TLS when configured. */
async function listen(
  config: OutpostConfig,
  fetch: FetchCallback,
  stopping: () => boolean,
): Promise<Server> {
  const tls = config.http.tls && (await tlsServerOptions(config.http.tls))
  const server = await new Promise<Server>((resolve, reject) => {
    const options = { fetch, port: config.http.port, hostname: config.http.address }
    // node answers 431 to a request whose headers exceed maxHeaderSize.
    const limit = { maxHeaderSize: config.http.maxHeaderSize }
    const s = (
      tls
        ? honoServe({
            ...options,
            createServer: createHttpsServer,
            serverOptions: { ...tls, ...limit },
          })
        : honoServe({ ...options, serverOptions: limit })
    ) as Server
    s.once('listening', () => resolve(s))
    s.once('error', reject)
  })
  // Slow uplinks: no request timeout cuts a long upload short; idle sockets still close.
  server.requestTimeout = 0
  server.keepAliveTimeout = 30_000
  // While stopping, no connection is kept alive past its response: a keep-alive client (Go's
  // transport keeps idle connections for 90 s) would otherwise hold the drain open until the
  // shutdown timeout. Requests arriving on an open connection are answered with Connection:
  // close; a response already under way closes its connection once it has finished.
  server.on('request', (_req, res) => {
    if (stopping() && !res.headersSent) res.setHeader('Connection', 'close')
    res.once('finish', () => {
      if (stopping()) setImmediate(() => server.closeIdleConnections())
    })
  })
  return server
}

/** Refuse new connections and let in-flight requests finish, for up to `timeoutMs`. */
async function drain(server: Server, timeoutMs: number): Promise<void> {
  const drained = new Promise<void>((resolve) => server.close(() => resolve()))
  server.closeIdleConnections()
  const timer = setTimeout(() => server.closeAllConnections(), timeoutMs)
  await drained
  clearTimeout(timer)
}

/**
 * GET /v2/_outpost/scrub: the default store's last report, and with subPaths each subpath's
 * under its route, so one damaged store is not hidden behind another's clean report.
 */
function scrubStatus(stores: RunningServer['stores']): unknown {
  const report = (s: RunningServer['stores'][number]) => s.upkeep.scrubber?.lastReport()
  const [first, ...subPaths] = stores
  if (subPaths.length === 0) return report(first)
  return {
    ...(report(first) as object),
    subPaths: Object.fromEntries(subPaths.map((s) => [storeLabel(s), report(s)])),
  }
}
