// Running the registry: open the storage, serve HTTP, run background upkeep, and stop cleanly.
// On stop it refuses new connections, lets in-flight requests finish for a bounded time, then
// writes the clean-stop marker so the next start trusts what this run verified.
import { mkdir, stat } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import type { Server } from 'node:http'
import { serve } from '@hono/node-server'
import type { OutpostConfig } from '../config/index.js'
import { createApp, type AppState } from '../http/index.js'
import type { Logger } from '../log/logger.js'
import { ownStorage, type OwnedStorage } from '../registry/index.js'
import { openBackends } from './backends.js'
import { startUpkeep, type Upkeep } from './upkeep.js'

export interface RunningServer {
  url: string
  port: number
  storage: OwnedStorage
  upkeep: Upkeep
  /** stop accepting, drain for up to the shutdown timeout, release the storage */
  close(): Promise<void>
}

export class RootMissingError extends Error {
  constructor(readonly root: string) {
    super(
      `storage.rootDirectory ${root} does not exist. Outpost does not create a configured root: ` +
        'a missing disk must not silently become an empty registry. Create it (or mount it) first.',
    )
    this.name = 'RootMissingError'
  }
}

export async function startServer(config: OutpostConfig, logger: Logger): Promise<RunningServer> {
  const root = config.storage.rootDirectory
  if (config.storage.createRoot) await mkdir(root, { recursive: true })
  const rootInfo = await stat(root).catch(() => null)
  if (!rootInfo?.isDirectory()) throw new RootMissingError(root)

  const backends = openBackends(config, logger)
  const log = (msg: string, fields?: Record<string, unknown>) => logger.warn(msg, fields)
  const storage = await ownStorage({
    driver: backends.driver,
    staging: backends.staging,
    localRoot: root,
    commit: config.storage.commit,
    log,
    holder: 'serve',
    dedupe: config.storage.dedupe,
    minFreeSpace: config.storage.minFreeSpace,
  })
  const state: AppState = { ready: false, started: false, inFlight: 0 }
  const upkeep = await startUpkeep(storage, config, logger, () => state.inFlight ?? 0)
  const app = createApp({
    registry: storage.registry,
    logger,
    state,
    scrubStatus: upkeep.scrubber && (() => upkeep.scrubber!.lastReport()),
  })

  let stopping = false
  const server = await new Promise<Server>((resolve, reject) => {
    const s = serve(
      { fetch: app.fetch, port: config.http.port, hostname: config.http.address },
      () => resolve(s as Server),
    ) as Server
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
    if (stopping && !res.headersSent) res.setHeader('Connection', 'close')
    res.once('finish', () => {
      if (stopping) setImmediate(() => server.closeIdleConnections())
    })
  })
  const port = (server.address() as AddressInfo).port
  const url = `http://${config.http.address.includes(':') ? `[${config.http.address}]` : config.http.address}:${port}`

  state.ready = true
  state.started = true
  logger.info('listening', {
    url,
    root,
    commit: config.storage.commit,
    dedupe: storage.dedupe,
    gc: config.storage.gc,
    cleanStart: storage.cleanStart,
  })

  return {
    url,
    port,
    storage,
    upkeep,
    async close() {
      if (stopping) return
      stopping = true
      state.ready = false
      await upkeep.stop()
      const drained = new Promise<void>((resolve) => server.close(() => resolve()))
      server.closeIdleConnections()
      const timer = setTimeout(() => server.closeAllConnections(), config.http.shutdownTimeoutMs)
      await drained
      clearTimeout(timer)
      await storage.close()
      backends.close()
      logger.info('stopped cleanly')
    },
  }
}
