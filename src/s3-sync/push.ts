// `outpost sync --to`: copying repositories to an S3 target in exactly the layout Outpost's S3
// backend serves (plain blobs at <repo>/blobs/<alg>/<hex>, oci-layout, index.json), so another
// Outpost can use the bucket as its storage. Incremental: a blob whose key already holds an
// object of its size is skipped, index.json is written only when its bytes differ. Resumable by
// the same rule: an interrupted run left whole objects only (a multipart upload appears when it
// completes), and a repository's index.json goes last, so a half-synced repository is never
// visible in the bucket with content missing. Blobs stream (bounded memory), checked against
// their digest on the way; each transfer first asks the budget service, then obeys the rate cap.
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { Budget } from '../budget/index.js'
import { layoutKeys, OCI_LAYOUT_CONTENT } from '../layout/index.js'
import type { StorageDriver } from '../storage/index.js'
import { snapshotRepo } from './closure.js'
import { RateLimit, verifying } from './streams.js'

export type LogFn = (msg: string, fields?: Record<string, unknown>) => void

export interface SyncReport {
  repositories: number
  /** blobs (manifests included) copied, and their bytes */
  copied: number
  bytes: number
  /** blobs the other side already had */
  skipped: number
  /** index.json files written (a repository whose index changed) */
  indexes: number
  failed: Array<{ repo: string; error: string }>
}

export function emptyReport(): SyncReport {
  return { repositories: 0, copied: 0, bytes: 0, skipped: 0, indexes: 0, failed: [] }
}

export interface SyncOptions {
  /** bytes per second; Infinity (the default) for no cap */
  rate?: number
  budget?: Budget
  shouldStop?: () => boolean
  log?: LogFn
}

/** One repository that a sync reads from `driver` (the store holding it). */
export interface SyncSource {
  driver: StorageDriver
  repo: string
}

export async function syncTo(
  sources: SyncSource[],
  target: StorageDriver,
  options: SyncOptions = {},
): Promise<SyncReport> {
  const limit = new RateLimit(options.rate ?? Infinity)
  return eachRepository(sources, options, 'sync of a repository failed', (source, report) =>
    pushRepo(source.driver, source.repo, target, limit, report, options),
  )
}

/**
 * Run `sync` for each repository in turn, until asked to stop: one that fails is reported and
 * the rest go on. Shared by `--to` (push) and `--from` (seed).
 */
export async function eachRepository<T extends { repo: string } | string>(
  items: Iterable<T>,
  options: SyncOptions,
  failure: string,
  sync: (item: T, report: SyncReport) => Promise<boolean>,
): Promise<SyncReport> {
  const report = emptyReport()
  const shouldStop = options.shouldStop ?? (() => false)
  for (const item of items) {
    if (shouldStop()) break
    const repo = typeof item === 'string' ? item : item.repo
    try {
      if (await sync(item, report)) report.repositories++
    } catch (err) {
      report.failed.push({ repo, error: (err as Error).message ?? String(err) })
      options.log?.(failure, { repo, error: String(err) })
    }
  }
  return report
}

async function pushRepo(
  source: StorageDriver,
  repo: string,
  target: StorageDriver,
  limit: RateLimit,
  report: SyncReport,
  options: SyncOptions,
): Promise<boolean> {
  const shouldStop = options.shouldStop ?? (() => false)
  // index.json is read first: what it references was present then, and is what goes up.
  const snapshot = await snapshotRepo(source, repo)
  if (!snapshot) return false
  for (const item of snapshot.items) {
    if (shouldStop()) return false
    const key = layoutKeys.blob(repo, item.digest)
    const there = await target.stat(key)
    if (there && there.size === item.size) {
      report.skipped++
      continue
    }
    await options.budget?.acquire(item.size, shouldStop)
    const body = item.manifest ? Readable.from([item.manifest.bytes]) : await source.read(key)
    const checked = verifying(item.digest, item.size)
    const sent = target.write(key, checked)
    await Promise.all([pipeline(body, limit.stream(), checked), sent])
    report.copied++
    report.bytes += item.size
  }
  if (shouldStop()) return false
  // Last: oci-layout (it alone would make the repository listed) and then index.json.
  if (!(await target.stat(layoutKeys.ociLayout(repo))))
    await target.put(layoutKeys.ociLayout(repo), Buffer.from(OCI_LAYOUT_CONTENT))
  const current = await target.get(layoutKeys.index(repo)).catch(() => null)
  if (!current || !current.equals(snapshot.indexBytes)) {
    await target.put(layoutKeys.index(repo), snapshot.indexBytes)
    report.indexes++
  }
  options.log?.('repository synced', { repo })
  return true
}
