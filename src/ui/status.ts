// The data of GET /v2/_outpost/status and of the page's admin sections: per store its backend,
// bytes used, free space against minFreeSpace and what dedupe saves; background work (GC, scrub,
// the mirror, the maintenance budget's pacing); health. Byte counts are summed from the engine
// index's summary records (no walk of the storage), at most once per CACHE_MS.
import type { Registry } from '../registry/index.js'

/** What the server hands the page about one store (src/server/operator-wiring.ts). */
export interface StoreSource {
  /** "/" for the default store, "/a" for a subpath, "hosted:/usb" for a hosted directory */
  label: string
  /** "filesystem" or "s3" (zot's storageDriver), as configured */
  backend: string
  registry: Registry
  minFreeSpace?: { percent: number } | { bytes: number }
  gc?: () => GcView
  scrub?: () => unknown
}

export interface GcView {
  enabled: boolean
  /** a pass is running now */
  running: boolean
  /** when the last pass ended, and what it removed */
  lastPass?: { endedAt: string; manifests: number; blobs: number; bytesFreed: number }
  /** absent while a pass runs or when no further pass is scheduled */
  nextPassAt?: string
  totals: { passes: number; bytesFreed: number }
}

export interface StatusSources {
  version: string
  startedAt: number
  stores: StoreSource[]
  /** the maintenance budget's counters and what it is pausing for now */
  budget: () => { pausedFor?: string; counters: unknown }
  /** GET /v2/_outpost/mirror's answer, when a registry has a pollInterval */
  mirror?: () => unknown
  /** readiness as /readyz answers it, with the reason when not ready */
  ready: () => Promise<{ ready: boolean; reason?: unknown }>
}

export interface StoreStatus {
  store: string
  backend: string
  repositories: number
  /** bytes the stored images use, shared blobs counted once where dedupe keeps them once */
  bytesUsed: number
  /** what the same images would take with every repository holding its own copies */
  bytesLogical: number
  dedupe: { enabled: boolean; savedBytes: number }
  /** where uploads land; absent for a backend without a notion of free space (S3) */
  space?: { freeBytes: number; totalBytes: number; minFreeBytes: number; belowMinimum: boolean }
  gc?: GcView
  scrub?: unknown
}

export interface Status {
  health: {
    ready: boolean
    reason?: unknown
    uptimeSeconds: number
    version: string
    rssBytes: number
  }
  storage: StoreStatus[]
  background: { budget: unknown; mirror: unknown }
}

const CACHE_MS = 5_000
const usage = new WeakMap<Registry, { at: number; value: Usage }>()

interface Usage {
  repositories: number
  used: number
  logical: number
}

export async function collectStatus(sources: StatusSources): Promise<Status> {
  const storage = await Promise.all(sources.stores.map(storeStatus))
  const ready = await sources.ready()
  return {
    health: {
      ready: ready.ready,
      ...(ready.reason !== undefined && { reason: ready.reason }),
      uptimeSeconds: Math.round((Date.now() - sources.startedAt) / 1000),
      version: sources.version,
      rssBytes: process.memoryUsage.rss(),
    },
    storage,
    background: {
      budget: sources.budget(),
      mirror: sources.mirror ? sources.mirror() : { enabled: false },
    },
  }
}

async function storeStatus(source: StoreSource): Promise<StoreStatus> {
  const { registry } = source
  const u = usageOf(registry)
  const space = await registry.freeSpace().catch(() => undefined)
  const min = source.minFreeSpace
  const minFreeBytes =
    !space || !min ? 0 : 'bytes' in min ? min.bytes : Math.round((space.total * min.percent) / 100)
  return {
    store: source.label,
    backend: source.backend,
    repositories: u.repositories,
    bytesUsed: u.used,
    bytesLogical: u.logical,
    dedupe: { enabled: registry.dedupes, savedBytes: u.logical - u.used },
    ...(space && {
      space: {
        freeBytes: space.free,
        totalBytes: space.total,
        minFreeBytes,
        belowMinimum: space.free < minFreeBytes,
      },
    }),
    ...(source.gc && { gc: source.gc() }),
    ...(source.scrub && { scrub: source.scrub() }),
  }
}

/** Sums over the store's records: each repository's size, and every blob once across them. */
function usageOf(registry: Registry): Usage {
  const cached = usage.get(registry)
  if (cached && Date.now() - cached.at < CACHE_MS) return cached.value
  const records = registry.summaries.records
  const blobs = new Map<string, number>()
  let repositories = 0
  let logical = 0
  for (const name of records.names()) {
    const record = records.get(name)
    if (!record) continue
    repositories++
    logical += record.size
    for (const image of record.images) {
      for (const [digest, size] of Object.entries(image.parts)) blobs.set(digest, size)
    }
  }
  let once = 0
  for (const size of blobs.values()) once += size
  const value = { repositories, logical, used: registry.dedupes ? once : logical }
  usage.set(registry, { at: Date.now(), value })
  return value
}
