// Background work of a running server: refilling a fresh engine index from the layout, the
// startup dedupe pass, scheduled GC, and expiry of idle upload sessions. Each runs beside the
// request path and stops when the server does.
import type { OutpostConfig } from '../config/index.js'
import { GarbageCollector, runDedupePass, scheduleGc } from '../gc/index.js'
import type { Logger } from '../log/logger.js'
import type { OwnedStorage } from '../registry/index.js'

const HOUR = 3_600_000

export interface Upkeep {
  collector: GarbageCollector
  /** resolves when the startup passes (index refill, dedupe) are done */
  startupDone: Promise<void>
  stop(): Promise<void>
}

export function startUpkeep(storage: OwnedStorage, config: OutpostConfig, logger: Logger): Upkeep {
  const { registry, db } = storage
  let stopped = false
  const shouldStop = () => stopped
  const log = (msg: string, fields?: Record<string, unknown>) => logger.info(msg, fields)
  const failed = (what: string) => (err: unknown) =>
    logger.error(`${what} failed`, { error: String(err), stack: (err as Error)?.stack })

  const startupDone = (async () => {
    if (db.fresh) {
      const repos = await registry.rebuildIndex(shouldStop)
      log('engine index rebuilt from the layout', { repos })
    }
    if (storage.dedupe) await runDedupePass({ registry, db, log, shouldStop })
  })().catch(failed('startup pass'))

  const collector = new GarbageCollector({
    registry,
    delayMs: config.storage.gc.delayMs,
    retention: config.storage.retention,
    log,
  })
  const stopGc = scheduleGc(config.storage.gc, () =>
    collector.runPass({ shouldStop }).catch(failed('gc pass')),
  )

  const expire = () =>
    registry
      .expireUploads(config.storage.uploadExpiryMs)
      .then((removed) => removed && log('expired idle upload sessions', { removed }))
      .catch(failed('upload expiry'))
  const expiry = setInterval(expire, Math.min(HOUR, config.storage.uploadExpiryMs))
  expiry.unref()

  return {
    collector,
    startupDone: startupDone.then(() => {}),
    async stop() {
      stopped = true
      clearInterval(expiry)
      await stopGc()
      await startupDone
    },
  }
}
