// extensions.sync resolved into the settings pull-through (and the periodic mirror) run on:
// defaults filled in, durations in ms, rates in bytes/s, platforms parsed. Tag regexes stay as
// zot's text (compileTagRegex in sync-grammar.ts turns them into RegExps) so that a reload can
// compare settings as JSON.
import { parseDuration } from './duration.js'
import { parseRate, parseWindow } from './maintenance.js'
import { parseBytes } from './units.js'
import { parsePlatform, type Platform } from './sync-grammar.js'
import type { RawRegistry, RawSync } from './sync.js'

/** zot's content.tags: regex and excludeRegex as zot's (RE2) text. */
export interface TagFilter {
  regex?: string
  excludeRegex?: string
  semver: boolean
}

export interface ContentRule {
  /** doublestar glob over upstream repository names; a leading "/" dropped, as zot does */
  prefix: string
  /** "/" or "/path" */
  destination: string
  stripPrefix: boolean
  /** absent: every tag */
  tags?: TagFilter
  /** absent: every platform of an index */
  platforms?: Platform[]
}

export interface UpstreamSettings {
  /** the upstream, then its failover mirrors */
  urls: string[]
  onDemand: boolean
  /** the periodic mirror's interval; absent: not mirrored periodically */
  pollIntervalMs?: number
  tlsVerify: boolean
  certDir?: string
  content: ContentRule[]
  maxRetries: number
  retryDelayMs: number
  /** the delay doubles on each retry up to this; equal to retryDelayMs: a fixed delay */
  maxRetryDelayMs: number
  /** zot's: only images with a signature upstream are synced (src/upstream/signatures.ts) */
  onlySigned: boolean
  /** zot's: cosign's `sha256-<hex>.sig` tags are synced, and count as a signature for onlySigned */
  syncLegacyCosignTags: boolean
  /** referrers (signatures, SBOMs) of a synced manifest are synced with it */
  referrers: boolean
  /** zot's manifestCheckInterval */
  tagRecheckMs: number
  /** zot's syncTimeout: the longest one upstream request may take, body included */
  syncTimeoutMs: number
  /** in-flight requests per upstream host; absent: no cap */
  reqConcurrent?: number
  /** request starts per second per upstream host; absent: no cap */
  reqPerSec?: number
  /** idle keep-alive connections kept per upstream host; absent: Node's default (no limit) */
  maxIdleConnsPerHost?: number
}

export interface SyncSettings {
  credentialsFile?: string
  /** bytes of pulled-through content kept; unbounded when absent */
  maxSizeBytes?: number
  /** the periodic mirror's cap in bytes/s across all registries; absent: none */
  maxBandwidth?: number
  /** minutes after local midnight the periodic mirror may transfer in (end excluded) */
  window?: { start: number; end: number }
  /** keys accepted but doing nothing here, to be logged at start */
  warnings?: string[]
  registries: UpstreamSettings[]
}

// zot's syncTimeout default (sync/constants: DefaultSyncTimeout); the rest are Outpost's.
const DEFAULTS = {
  maxRetries: 3,
  retryDelay: '5m',
  tagRecheckInterval: '60s',
  syncTimeout: '3h',
}

/** The settings the pull-through cache runs on; undefined when sync is off. */
export function resolveSync(raw: RawSync | undefined): SyncSettings | undefined {
  if (!raw || raw.enable === false || !raw.registries?.length) return undefined
  const registries = raw.registries.map(resolveRegistry)
  return {
    ...(raw.credentialsFile && { credentialsFile: raw.credentialsFile }),
    ...(raw.maxSize && { maxSizeBytes: parseBytes(raw.maxSize) }),
    ...(raw.maxBandwidth && { maxBandwidth: parseRate(raw.maxBandwidth) }),
    ...(raw.window && { window: parseWindow(raw.window) }),
    warnings: syncWarnings(raw, registries),
    registries,
  }
}

function syncWarnings(raw: RawSync, registries: UpstreamSettings[]): string[] {
  const warnings: string[] = []
  if (raw.downloadDir)
    warnings.push(
      'extensions.sync.downloadDir is unused: blobs stream straight into the store, verified as they arrive',
    )
  const periodic = registries.some((r) => r.pollIntervalMs !== undefined)
  for (const key of ['maxBandwidth', 'window'] as const) {
    if (raw[key] && !periodic)
      warnings.push(
        `extensions.sync.${key} applies to the periodic mirror only, and no registry has a pollInterval`,
      )
  }
  return warnings
}

function resolveRegistry(r: RawRegistry): UpstreamSettings {
  const retryDelayMs = parseDuration(r.retryDelay ?? DEFAULTS.retryDelay)
  const recheck = r.manifestCheckInterval ?? r.tagRecheckInterval ?? DEFAULTS.tagRecheckInterval
  return {
    urls: r.urls.map((u) => u.replace(/\/$/, '')),
    onDemand: r.onDemand === true,
    ...(r.pollInterval && { pollIntervalMs: parseDuration(r.pollInterval) }),
    tlsVerify: r.tlsVerify ?? true,
    ...(r.certDir && { certDir: r.certDir }),
    content: (r.content ?? [{ prefix: '**' }]).map((c) => ({
      prefix: c.prefix.replace(/^\//, ''),
      destination: c.destination ?? '/',
      stripPrefix: c.stripPrefix ?? false,
      ...(c.tags && {
        tags: {
          ...(c.tags.regex !== undefined && { regex: c.tags.regex }),
          ...(c.tags.excludeRegex !== undefined && { excludeRegex: c.tags.excludeRegex }),
          semver: c.tags.semver ?? false,
        },
      }),
      ...(c.platforms && { platforms: c.platforms.map(parsePlatform) }),
    })),
    maxRetries: r.maxRetries ?? DEFAULTS.maxRetries,
    retryDelayMs,
    maxRetryDelayMs: r.maxRetryDelay ? parseDuration(r.maxRetryDelay) : retryDelayMs,
    onlySigned: r.onlySigned ?? false,
    syncLegacyCosignTags: r.syncLegacyCosignTags ?? true,
    referrers: r.referrers ?? true,
    tagRecheckMs: parseDuration(recheck),
    syncTimeoutMs: parseDuration(r.syncTimeout ?? DEFAULTS.syncTimeout),
    ...(r.reqConcurrent !== undefined && { reqConcurrent: r.reqConcurrent }),
    ...(r.reqPerSec !== undefined && { reqPerSec: r.reqPerSec }),
    ...(r.maxIdleConnsPerHost !== undefined && { maxIdleConnsPerHost: r.maxIdleConnsPerHost }),
  }
}

/**
 * How long to wait before retry `n` (1, 2, ...): zot's retryDelay, doubled on each further retry
 * up to maxRetryDelay (regclient's backoff); a fixed delay when maxRetryDelay is unset.
 */
export function retryDelayFor(settings: UpstreamSettings, n: number): number {
  const doubled = settings.retryDelayMs * 2 ** Math.min(Math.max(n - 1, 0), 52)
  return Math.min(doubled, Math.max(settings.maxRetryDelayMs, settings.retryDelayMs))
}
