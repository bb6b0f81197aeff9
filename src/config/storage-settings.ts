// The storage section resolved into what the engine runs on, with zot's defaults: dedupe on, GC
// on, and the seed's GC table (zot storage guide, "Configuring garbage collection"):
//   gc false                      -> off
//   gc omitted, or true without gcInterval -> every 1 h
//   gcInterval 0                  -> once
//   gcInterval > 0                -> at that interval
// The first pass runs after gcDelay (default 1 h), and nothing younger than gcDelay is collected.
import { parseDuration } from './duration.js'
import type { RawConfig } from './schema.js'
import { parseSpace, type FreeSpace } from './units.js'
import { usesRemoteCache } from './cache-rules.js'
import { resolveDynamoSettings, type DynamoSettings } from './dynamo-options.js'

export { parseSpace, type FreeSpace }

const HOUR = 3_600_000

export interface GcSettings {
  enabled: boolean
  delayMs: number
  /** 0: one pass only */
  intervalMs: number
}

export interface RetentionPolicy {
  repositories: string[]
  deleteUntagged: boolean
  deleteReferrers: boolean
}

export interface RetentionSettings {
  /** report untagged and orphaned manifests without removing them */
  dryRun: boolean
  /** minimum age of a manifest before retention removes it; defaults to gcDelay */
  delayMs: number
  /** first match wins; none configured (or an empty list) means delete untagged and orphaned
   *  referrers everywhere */
  policies: RetentionPolicy[]
}

export interface StorageSettings {
  dedupe: boolean
  /**
   * the cacheDriver (DynamoDB) the store's locks and content index live in, when it uses a
   * remote cache (see cache-rules.ts); the local LMDB index otherwise
   */
  remoteCache?: DynamoSettings
  /** a cacheDriver configured with remoteCache false: ignored, with a startup warning */
  cacheDriverIgnored: boolean
  gc: GcSettings
  retention: RetentionSettings
  minFreeSpace: FreeSpace
}

/** No policies configured (or an empty list): untagged manifests and orphaned referrers go. */
const defaultPolicies = (): RetentionPolicy[] => [
  { repositories: ['**'], deleteUntagged: true, deleteReferrers: true },
]

/** Space kept free by default: enough for the system's own writes on a small SD card. */
export const DEFAULT_MIN_FREE_SPACE = '5%'

export function resolveStorageSettings(storage: RawConfig['storage']): StorageSettings {
  const delayMs = storage.gcDelay !== undefined ? parseDuration(storage.gcDelay) : HOUR
  const gcOn = storage.gc !== false
  const intervalMs = storage.gcInterval !== undefined ? parseDuration(storage.gcInterval) : HOUR
  const retention = storage.retention
  const remote = usesRemoteCache(storage)
  return {
    dedupe: storage.dedupe ?? true,
    ...(remote &&
      storage.cacheDriver && { remoteCache: resolveDynamoSettings(storage.cacheDriver) }),
    cacheDriverIgnored: !remote && storage.cacheDriver !== undefined,
    gc: { enabled: gcOn, delayMs, intervalMs },
    retention: {
      dryRun: retention?.dryRun ?? false,
      delayMs: retention?.delay !== undefined ? parseDuration(retention.delay) : delayMs,
      policies: retention?.policies?.length
        ? retention.policies.map((p) => ({
            repositories: p.repositories,
            // zot's defaults for a policy that omits them: untagged go, orphaned referrers stay
            deleteUntagged: p.deleteUntagged ?? true,
            deleteReferrers: p.deleteReferrers ?? false,
          }))
        : defaultPolicies(),
    },
    minFreeSpace: parseSpace(storage.minFreeSpace ?? DEFAULT_MIN_FREE_SPACE),
  }
}
