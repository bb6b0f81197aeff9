// SIGHUP: apply a changed configuration to the running server without dropping a connection.
// Reloaded: TLS certificates (new connections get them), GC settings and retention, the scrub
// interval, the rate limit, the upload idle timeout, and whatever registered a Reloader (access
// control). Everything else (storage roots, listen address, ...) needs a restart: such changes
// are logged and the running values kept, so the server never runs a half-applied mix.
import type { Server as HttpsServer } from 'node:https'
import type { OutpostConfig, StoreSettings } from '../config/index.js'
import type { HttpLimits } from '../http/limits.js'
import type { Logger } from '../log/logger.js'
import { reloadTls } from './tls.js'
import type { Upkeep } from './upkeep.js'

/** Something that re-reads its part of the configuration (e.g. auth and access control). */
export interface Reloader {
  /** what the log calls it */
  name: string
  reload(http: OutpostConfig['http'], config: OutpostConfig): void | Promise<void>
}

export interface ReloadTargets {
  logger: Logger
  limits: HttpLimits
  /** the HTTPS server, when serving TLS */
  tlsServer?: HttpsServer
  stores: Array<{ route?: string; upkeep: Upkeep }>
  reloaders: readonly Reloader[]
}

export interface ReloadResult {
  /** the configuration now in force: the new one, with the settings that need a restart kept */
  config: OutpostConfig
  /** JSON paths whose change waits for a restart */
  needsRestart: string[]
  /** parts that failed to reload (they keep their previous settings) */
  failed: string[]
}

export async function reloadConfig(
  current: OutpostConfig,
  next: OutpostConfig,
  targets: ReloadTargets,
): Promise<ReloadResult> {
  const { logger } = targets
  const was = fixedParts(current)
  const now = fixedParts(next)
  const needsRestart = Object.keys(was).filter(
    (k) => JSON.stringify(was[k]) !== JSON.stringify(now[k]),
  )
  const keepTls = needsRestart.includes('http.tls')
  const config: OutpostConfig = {
    ...current,
    http: {
      ...next.http,
      address: current.http.address,
      port: current.http.port,
      shutdownTimeoutMs: current.http.shutdownTimeoutMs,
      maxHeaderSize: current.http.maxHeaderSize,
      tls: keepTls ? current.http.tls : next.http.tls,
    },
    storage: withGc(current.storage, next.storage),
    scrub: { enabled: current.scrub.enabled, intervalMs: next.scrub.intervalMs },
  }
  if (needsRestart.length) {
    logger.warn('configuration change needs a restart: kept the running settings', {
      keys: needsRestart,
    })
  }

  const failed: string[] = []
  const attempt = async (what: string, work: () => unknown) => {
    try {
      await work()
    } catch (err) {
      failed.push(what)
      logger.error(`reload of ${what} failed: kept the previous settings`, { error: String(err) })
    }
  }
  const tls = config.http.tls
  if (targets.tlsServer && tls) await attempt('http.tls', () => reloadTls(targets.tlsServer!, tls))
  targets.limits.update(config.http)
  await Promise.all([
    ...targets.stores.map((s) =>
      attempt(`storage${s.route ? `.subPaths./${s.route}` : ''} gc`, () =>
        s.upkeep.reschedule(storeConfig(config, s.route)),
      ),
    ),
    ...targets.reloaders.map((r) => attempt(r.name, () => r.reload(config.http, config))),
  ])
  logger.info('configuration reloaded', {
    gc: config.storage.gc,
    scrubIntervalMs: config.scrub.intervalMs,
    tls: Boolean(tls),
    ratelimit: config.http.ratelimit ?? null,
    uploadIdleTimeoutMs: config.http.uploadIdleTimeoutMs,
    ...(failed.length && { failed }),
  })
  return { config, needsRestart, failed }
}

/** One store's view of the configuration, as its upkeep was started with. */
function storeConfig(config: OutpostConfig, route: string | undefined): OutpostConfig {
  return route ? { ...config, storage: config.storage.subPaths![route] } : config
}

/** A store's running settings with the new GC settings and retention. */
function withGc(current: StoreSettings, next: StoreSettings): StoreSettings {
  const subPaths = current.subPaths
  return {
    ...current,
    gc: next.gc,
    retention: next.retention,
    ...(subPaths && {
      subPaths: Object.fromEntries(
        Object.entries(subPaths).map(([route, store]) => [
          route,
          next.subPaths?.[route] ? withGc(store, next.subPaths[route]) : store,
        ]),
      ),
    }),
  }
}

/** The settings a running server cannot change, by JSON path. */
function fixedParts(config: OutpostConfig): Record<string, unknown> {
  const store = (s: StoreSettings): unknown => {
    const { gc: _gc, retention: _retention, subPaths, ...rest } = s
    return {
      ...rest,
      subPaths:
        subPaths && Object.fromEntries(Object.entries(subPaths).map(([k, v]) => [k, store(v)])),
    }
  }
  return {
    storage: store(config.storage),
    'http.address': config.http.address,
    'http.port': config.http.port,
    'http.shutdownTimeout': config.http.shutdownTimeoutMs,
    'http.maxHeaderSize': config.http.maxHeaderSize,
    // On or off, and whether clients must present certificates, are fixed by the listening socket.
    'http.tls': [Boolean(config.http.tls), Boolean(config.http.tls?.cacert)],
    'extensions.scrub.enable': config.scrub.enabled,
    'extensions.sync': config.sync,
    'extensions.metrics': config.metrics,
    log: config.log,
    maintenance: config.maintenance,
    hosting: config.hosting,
    uplink: config.uplink,
  }
}
