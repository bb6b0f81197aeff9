// The periodic mirror in a running server (issue 15): built only when a registry has a
// pollInterval, and its modules loaded only then (a server with no mirror keeps its idle RSS).
// One pacer for the whole mirror, each registry's passes on the shared router with its own
// upstream client, mirrored content pinned in the store's engine index, outpost_mirror_* metrics
// registered on the server's metrics, stopped before the stores close.
import type { OutpostConfig } from '../config/index.js'
import type { SyncSettings, UpstreamSettings } from '../config/sync.js'
import type { OutpostMetrics } from '../metrics/index.js'
import type { WindowState } from '../upstream/mirror/pacing.js'
import type { Mirror } from '../upstream/mirror/scheduler.js'
import type { MirrorDeps, Pacer } from '../upstream/mirror/types.js'
import type { LogFn, RegistryRouter } from '../registry/index.js'

export function periodicRegistries(config: OutpostConfig): UpstreamSettings[] {
  return config.sync?.registries.filter((r) => r.pollIntervalMs !== undefined) ?? []
}

export interface MirrorParts {
  router: RegistryRouter
  pacer: Pacer
  /** where the pacer's window stands, for the status */
  windowState?: () => WindowState
  log: LogFn
  firstPassAfterMs?: number
}

/**
 * A Mirror over every periodic registry (undefined when there is none), for the server's
 * schedule and for `outpost mirror`. The caller calls `close()` after the mirror stopped: it
 * ends the upstream clients.
 */
export async function buildMirror(
  config: OutpostConfig,
  parts: MirrorParts,
): Promise<{ mirror: Mirror; close(): void } | undefined> {
  const periodic = periodicRegistries(config)
  if (periodic.length === 0) return undefined
  const [{ Mirror }, { runMirrorPass }, { UpstreamClient, readCredentials }] = await Promise.all([
    import('../upstream/mirror/scheduler.js'),
    import('../upstream/mirror/mirror-pass.js'),
    import('../upstream/index.js'),
  ])
  const sync = config.sync!
  const credentials = sync.credentialsFile ? await readCredentials(sync.credentialsFile) : {}
  const clients = periodic.map((settings) => new UpstreamClient(settings, credentials))
  const registries = periodic.map((settings, i) => {
    const deps: MirrorDeps = {
      router: parts.router,
      client: clients[i],
      pacer: parts.pacer,
      log: parts.log,
      pin: (repo, digest) => parts.router.for(repo).pin(repo, digest),
    }
    return { settings, deps }
  })
  const mirror = new Mirror({
    registries,
    runPass: runMirrorPass,
    log: parts.log,
    ...(parts.windowState && { windowState: parts.windowState }),
    ...(sync.maxBandwidth !== undefined && { maxBandwidth: sync.maxBandwidth }),
    ...(sync.window && { window: sync.window }),
    ...(parts.firstPassAfterMs !== undefined && { firstPassAfterMs: parts.firstPassAfterMs }),
  })
  return { mirror, close: () => clients.forEach((c) => c.close()) }
}

export interface RunningMirror {
  status(): unknown
  /** starts the schedule once `ready` resolves (the stores' startup passes) */
  start(ready: Promise<unknown>): void
  stop(): Promise<void>
}

/** The server's mirror: paced, scheduled, with metrics; undefined when no registry is periodic. */
export async function startMirror(
  config: OutpostConfig,
  router: RegistryRouter,
  options: { inFlight: () => number; metrics?: OutpostMetrics; log: LogFn },
): Promise<RunningMirror | undefined> {
  if (periodicRegistries(config).length === 0) return undefined
  const [{ MirrorPacer }, { SystemSampler }] = await Promise.all([
    import('../upstream/mirror/pacing.js'),
    import('../budget/index.js'),
  ])
  const sync = config.sync!
  // The maintenance budget's CPU and memory limits apply; its ioRate and window do not.
  const pacer = new MirrorPacer({
    ...(sync.maxBandwidth !== undefined && { maxBandwidth: sync.maxBandwidth }),
    ...(sync.window && { window: sync.window }),
    cpuPercent: config.maintenance.cpuPercent,
    minFreeMemory: config.maintenance.minFreeMemory,
    sampler: await SystemSampler.forRoot(config.storage.rootDirectory),
    inFlight: options.inFlight,
    log: options.log,
  })
  const built = await buildMirror(config, {
    router,
    pacer,
    windowState: () => pacer.window(),
    log: options.log,
    firstPassAfterMs: FIRST_PASS_AFTER_MS,
  })
  if (!built) return undefined
  const { mirror } = built
  if (options.metrics) {
    const { registerMirrorMetrics } = await import('../metrics/mirror-metrics.js')
    registerMirrorMetrics(options.metrics.registry, () => mirror.totals())
  }
  let stopped = false
  let started: Promise<void> = Promise.resolve()
  return {
    status: () => mirror.status(),
    start(ready) {
      started = ready.then(() => {
        if (!stopped) mirror.start()
      })
    },
    async stop() {
      stopped = true
      await started.catch(() => {})
      await mirror.stop()
      built.close()
    },
  }
}

/** The first pass starts this long after the stores' startup passes are done. */
const FIRST_PASS_AFTER_MS = 1000

/** extensions.sync with only the registries the pull-through cache serves (onDemand: true). */
export function onDemandOnly(sync: SyncSettings | undefined): SyncSettings | undefined {
  const registries = sync?.registries.filter((r) => r.onDemand) ?? []
  return sync && registries.length > 0 ? { ...sync, registries } : undefined
}
