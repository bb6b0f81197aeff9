// A running server's scheduled sync (uplink.schedule): every interval, each uplink target gets
// the repositories matching uplink.repos, as `outpost sync --to` would send them, paced by the
// server's budget. A pass that fails is logged and retried at the next interval.
import type { Budget } from '../budget/index.js'
import type { OutpostConfig } from '../config/index.js'
import { scheduleGc } from '../gc/index.js'
import type { LogFn } from './push.js'
import { openTarget, planSync, type SyncDrivers } from './plan.js'
import { syncTo } from './push.js'

/** Start the schedule; resolves the returned stop() once a pass under way has ended. */
export function scheduleUplink(
  config: OutpostConfig,
  budget: Budget,
  log: LogFn,
  drivers: SyncDrivers,
): () => Promise<void> {
  const uplink = config.uplink
  if (!uplink?.scheduleMs || Object.keys(uplink.targets).length === 0) return async () => {}
  let stopped = false
  const shouldStop = () => stopped
  const pass = async () => {
    for (const name of Object.keys(uplink.targets)) {
      if (stopped) return
      const target = await openTarget(config, name, drivers)
      const plan = await planSync(config, drivers, uplink.repos).catch((err) => {
        target.close()
        throw err
      })
      try {
        const report = await syncTo(plan.sources, target.driver, {
          rate: uplink.rate,
          budget,
          shouldStop,
          log,
        })
        log('scheduled sync done', { target: name, ...report })
      } catch (err) {
        log('scheduled sync failed', { target: name, error: String(err) })
      } finally {
        plan.close()
        target.close()
      }
    }
  }
  const stop = scheduleGc(
    { enabled: true, delayMs: uplink.scheduleMs, intervalMs: uplink.scheduleMs },
    () => pass().catch((err) => log('scheduled sync failed', { error: String(err) })),
  )
  return async () => {
    stopped = true
    await stop()
  }
}
