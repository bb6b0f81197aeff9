// Background work of a running server: refilling a fresh engine index from the layout, the
// startup dedupe pass, scheduled GC and scrub, and expiry of idle upload sessions. GC, scrub and
// the dedupe pass run in small units through the budget service (DESIGN.md invariant 9) and stop
// when the server does.
import { Budget, SystemSampler } from '../budget/index.js'
import type { OutpostConfig } from '../config/index.js'
import { GarbageCollector, runDedupePass, scheduleGc } from '../gc/index.js'
import type { Logger } from '../log/logger.js'
import type { OwnedStorage } from '../registry/index.js'
import { Scrubber } from '../scrub/index.js'

const HOUR = 3_600_000
/** An interrupted scrub pass resumes this long after start, not a whole interval later. */
const RESUME_SCRUB_AFTER_MS = 60_000

export interface Upkeep {
  budget: Budget
  collector: GarbageCollector
  scrubber?: Scrubber
  /** resolves when the startup passes (index refill, dedupe) are done */
  startupDone: Promise<void>
  stop(): Promise<void>
}

export async function startUpkeep(
  storage: OwnedStorage,
  config: OutpostConfig,
  logger: Logger,
  inFlight: () => number,
): Promise<Upkeep> {
  const { registry, db } = storage
  let stopped = false
  const shouldStop = () => stopped
  const log = (msg: string, fields?: Record<string, unknown>) => logger.info(msg, fields)
  const failed = (what: string) => (err: unknown) =>
    logger.error(`${what} failed`, { error: String(err), stack: (err as Error)?.stack })

  const budget = new Budget({
    settings: config.maintenance,
    sampler: await SystemSampler.forRoot(config.storage.rootDirectory),
    inFlight,
    log,
  })

  const startupDone = (async () => {
    if (db.fresh) {
      const repos = await registry.rebuildIndex(shouldStop)
      log('engine index rebuilt from the layout', { repos })
    }
    if (storage.dedupe) await runDedupePass({ registry, db, log, shouldStop, budget })
  })().catch(failed('startup pass'))

  const collector = new GarbageCollector({
    registry,
    delayMs: config.storage.gc.delayMs,
    retention: config.storage.retention,
    log,
    pause: () => budget.acquire(0, shouldStop),
  })
  const stopGc = scheduleGc(config.storage.gc, () =>
    collector.runPass({ shouldStop }).catch(failed('gc pass')),
  )

  const scrubber = config.scrub.enabled ? new Scrubber({ registry, db, budget, log }) : undefined
  const stopScrub = scrubber
    ? scheduleGc(
        {
          enabled: true,
          delayMs: scrubber.interrupted() ? RESUME_SCRUB_AFTER_MS : config.scrub.intervalMs,
          intervalMs: config.scrub.intervalMs,
        },
        () => scrubber.runPass(shouldStop).catch(failed('scrub pass')),
      )
    : async () => {}

  const expire = () =>
    registry
      .expireUploads(config.storage.uploadExpiryMs)
      .then((removed) => removed && log('expired idle upload sessions', { removed }))
      .catch(failed('upload expiry'))
  const expiry = setInterval(expire, Math.min(HOUR, config.storage.uploadExpiryMs))
  expiry.unref()

  return {
    budget,
    collector,
    scrubber,
    startupDone: startupDone.then(() => {}),
    async stop() {
      stopped = true
      clearInterval(expiry)
      await Promise.all([stopGc(), stopScrub()])
      await startupDone
    },
  }
}
