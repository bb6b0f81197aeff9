// Running the registry: open the storage, serve HTTP, run background upkeep, and stop cleanly.
// On stop it refuses new connections, lets in-flight requests finish for a bounded time, then
// writes the clean-stop marker so the next start trusts what this run verified.
import { mkdir } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import type { Server } from 'node:http'
import { serve } from '@hono/node-server'
import type { OutpostConfig } from '../config/index.js'
import { createApp, type AppState } from '../http/index.js'
import type { Logger } from '../log/logger.js'
import type { OwnedStorage } from '../registry/index.js'
import { openStore } from './store.js'
export { RootMissingError } from './store.js'
import { startUpkeep, type Upkeep } from './upkeep.js'

export interface RunningServer {
  url: string
  port: number
  storage: OwnedStorage
  upkeep: Upkeep
  /** stop accepting, drain for up to the shutdown timeout, release the storage */
  close(): Promise<void>
}

export async function startServer(config: OutpostConfig, logger: Logger): Promise<RunningServer> {
  const root = config.storage.rootDirectory
  if (config.storage.createRoot) await mkdir(root, { recursive: true })
  const log = (msg: string, fields?: Record<string, unknown>) => logger.warn(msg, fields)
  const store = await openStore(config.storage, { holder: 'serve', log, logger })
  const { storage } = store
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
      await store.close()
      logger.info('stopped cleanly')
    },
  }
}
