// Background work of a running server: refilling a fresh engine index from the layout, the
// startup dedupe pass, scheduled GC and scrub, and expiry of idle upload sessions. GC, scrub and
// the dedupe pass run in small units through the budget service (docs/architecture.md §5.9) and stop
// when the server does.
import { operatorError } from '../log/operator-error.js'
import { Budget, SystemSampler } from '../budget/index.js'
import type { OutpostConfig } from '../config/index.js'
import { GarbageCollector, scheduleGc, type GcPassResult } from '../gc/index.js'
import { runDedupePass } from '../dedupe/index.js'
import type { Logger } from '../log/logger.js'
import type { OwnedStorage } from './storage-owner.js'
import { Scrubber } from '../scrub/index.js'

const HOUR = 3_600_000
/** An interrupted scrub pass resumes this long after start, not a whole interval later. */
const RESUME_SCRUB_AFTER_MS = 60_000

/** The budget background work runs under, sampling the default store's filesystem. */
export async function sharedBudget(
  config: OutpostConfig,
  inFlight: () => number,
  log: (msg: string, fields?: Record<string, unknown>) => void,
): Promise<Budget> {
  return new Budget({
    settings: config.maintenance,
    sampler: await SystemSampler.forRoot(config.storage.rootDirectory),
    inFlight,
    log,
  })
}

export interface Upkeep {
  budget: Budget
  collector: GarbageCollector
  scrubber?: Scrubber
  /** resolves when the startup passes (index refill, dedupe) are done */
  startupDone: Promise<void>
  /** the GC schedule as the operator's page shows it: the last pass and when the next is due */
  gcTiming(): {
    enabled: boolean
    lastPass?: { endedAt: number; result: GcPassResult }
    nextAt?: number
    /** a pass is running now */
    running: boolean
  }
  /**
   * SIGHUP: restart the GC and scrub schedules under new settings (gc, gcDelay, gcInterval,
   * retention, the scrub interval), after a pass in progress ends. Counters carry over.
   */
  reschedule(config: OutpostConfig): Promise<void>
  stop(): Promise<void>
}

/**
 * Upkeep of one store: `config.storage` is that store's settings (the storage section, or one of
 * its subPaths). With several stores, pass one `shared` budget to all: background work then shares one
 * CPU and I/O allowance instead of each store taking a whole one.
 */
export async function startUpkeep(
  storage: OwnedStorage,
  config: OutpostConfig,
  logger: Logger,
  inFlight: () => number,
  shared?: Budget,
  /** the store's name in log lines ("/" or "/a"), given when there are several stores */
  store?: string,
): Promise<Upkeep> {
  const { registry, db } = storage
  let stopped = false
  const shouldStop = () => stopped
  const named = (fields?: Record<string, unknown>) => (store ? { store, ...fields } : fields)
  const log = (msg: string, fields?: Record<string, unknown>) => logger.info(msg, named(fields))
  // A backend an operator must fix (credentials, an endpoint down) is one line; a bug keeps
  // its stack.
  const failed = (what: string) => (err: unknown) => {
    const line = operatorError(err)
    if (line) logger.error(`${what} failed`, named({ error: line }))
    else logger.error(`${what} failed`, named({ error: String(err), stack: (err as Error)?.stack }))
  }

  const budget = shared ?? (await sharedBudget(config, inFlight, log))

  const startupDone = (async () => {
    if (db.fresh) {
      const repos = await registry.rebuildIndex(shouldStop)
      log('engine index rebuilt from the layout', { repos })
    }
    // The operator page's records, for an index that has none yet (fresh, or from a build that
    // kept none): one refresh per repository, then writes keep them current.
    if (!registry.summaries.records.complete()) {
      const repos = await registry.summaries.backfill(() => registry.repositories(), shouldStop)
      if (repos > 0) log('repository summaries built from the layout', { repos })
    }
    // Dedupe what is stored; or, with dedupe off where content was shared by reference (S3),
    // give every repository full copies again (the store's sharing strategy says which).
    const pass = registry.sharing.startupPass
    if (pass !== 'none') {
      const dedupe = pass === 'share'
      await runDedupePass({ registry, db, log, shouldStop, budget, dedupe })
    }
  })().catch(failed('startup pass'))

  const collectorFor = (settings: OutpostConfig) =>
    new GarbageCollector({
      registry,
      delayMs: settings.storage.gc.delayMs,
      retention: settings.storage.retention,
      log,
      pause: () => budget.acquire(0, shouldStop),
    })
  let collector = collectorFor(config)
  let gcLast: { endedAt: number; result: GcPassResult } | undefined
  let gcNext: number | undefined
  let gcRunning = false
  const gcSchedule = () => {
    const { gc } = config.storage
    gcNext = gc.enabled ? Date.now() + gc.delayMs : undefined
    return scheduleGc(gc, async () => {
      gcNext = undefined
      gcRunning = true
      const result = await collector
        .runPass({ shouldStop })
        .catch(failed('gc pass'))
        .finally(() => (gcRunning = false))
      if (result) gcLast = { endedAt: Date.now(), result }
      if (gc.intervalMs > 0 && !stopped) gcNext = Date.now() + gc.intervalMs
    })
  }
  let stopGc = gcSchedule()

  const scrubber = config.scrub.enabled ? new Scrubber({ registry, db, budget, log }) : undefined
  const scrubSchedule = (delayMs: number) =>
    scrubber
      ? scheduleGc({ enabled: true, delayMs, intervalMs: config.scrub.intervalMs }, () =>
          scrubber.runPass(shouldStop).catch(failed('scrub pass')),
        )
      : async () => {}
  let stopScrub = scrubSchedule(
    scrubber?.interrupted() ? RESUME_SCRUB_AFTER_MS : config.scrub.intervalMs,
  )

  const expire = () =>
    registry
      .expireUploads(config.storage.uploadExpiryMs)
      .then((removed) => removed && log('expired idle upload sessions', { removed }))
      .catch(failed('upload expiry'))
  const expiry = setInterval(expire, Math.min(HOUR, config.storage.uploadExpiryMs))
  expiry.unref()

  return {
    budget,
    get collector() {
      return collector
    },
    scrubber,
    startupDone: startupDone.then(() => {}),
    gcTiming: () => ({
      enabled: config.storage.gc.enabled,
      ...(gcLast && { lastPass: gcLast }),
      ...(gcNext !== undefined && { nextAt: gcNext }),
      running: gcRunning,
    }),
    async reschedule(next) {
      if (stopped) return
      await Promise.all([stopGc(), stopScrub()])
      if (stopped) return
      const counters = collector.counters
      config = next
      collector = collectorFor(next)
      Object.assign(collector.counters, counters)
      stopGc = gcSchedule()
      // Whether scrub runs at all is fixed at start; its interval is not.
      stopScrub = scrubSchedule(next.scrub.intervalMs)
    },
    async stop() {
      stopped = true
      clearInterval(expiry)
      await Promise.all([stopGc(), stopScrub()])
      await startupDone
    },
  }
}
