// The startup dedupe pass (zot storage guide, "Deduplication": "If the dedupe status upon startup
// is true, zot deduplicates all blobs found in storage"): identical blobs already on disk, from
// layouts copied in or written while dedupe was off, become hard links to one copy. It runs in
// the background at a modest fixed rate, records where it got to so a restart resumes there, and
// logs its progress; requests are served throughout.
//
// On a store that dedupes by reference (S3, see src/dedupe/shared-content.ts) the same pass
// turns blobs into references to one shared copy; and a start with dedupe off runs it to restore
// full copies ("a start with dedupe=false restores every repository's blobs"), server-side.
import type { Budget } from '../budget/index.js'
import type { EngineDb } from '../engine-db/index.js'
import type { Registry } from '../registry/index.js'
import { dedupeBlob, type DedupeContext } from './dedupe-existing.js'

export interface DedupePassOptions {
  registry: Registry
  db: EngineDb
  /** share identical blobs (true), or give references full copies of their own again (false) */
  dedupe?: boolean
  log: (msg: string, fields?: Record<string, unknown>) => void
  /** blobs examined per second at most (Infinity: unpaced); ignored when a budget is given */
  blobsPerSecond?: number
  /** the budget service: each blob is a small unit of background work */
  budget?: Budget
  shouldStop?: () => boolean
}

export interface DedupePassResult {
  repositories: number
  blobs: number
  linked: number
  bytesSaved: number
  /** references given full bytes again (dedupe off) */
  restored: number
  /** copies found not to match their digest before linking, moved to quarantine */
  quarantined: number
  ms: number
  complete: boolean
}

interface Progress {
  /** the last repository fully processed in an unfinished pass */
  after?: string
}

const PROGRESS = 'dedupe-pass'
const RESTORE_PROGRESS = 'restore-pass'
const DEFAULT_RATE = 500
/** What one blob's examination costs in I/O terms: a stat or two and a link. */
const BLOB_UNIT_BYTES = 4096

export async function runDedupePass(options: DedupePassOptions): Promise<DedupePassResult> {
  const { registry, db, log } = options
  const began = performance.now()
  const rate = options.blobsPerSecond ?? DEFAULT_RATE
  const dedupe = options.dedupe ?? true
  // Progress of a dedupe pass says nothing about a restore pass, and back.
  const progressName = dedupe ? PROGRESS : RESTORE_PROGRESS
  const resumeAfter = db.getMeta<Progress>(progressName)?.after
  const result: DedupePassResult = {
    repositories: 0,
    blobs: 0,
    linked: 0,
    bytesSaved: 0,
    restored: 0,
    quarantined: 0,
    ms: 0,
    complete: false,
  }
  const budget = options.budget
  const shouldStop = options.shouldStop ?? (() => false)
  const pace = budget ? () => budget.acquire(BLOB_UNIT_BYTES, shouldStop) : pacer(rate)
  // Bytes hashed before two copies are linked (see dedupe-existing.ts) are paced by the budget.
  const ctx: DedupeContext = {
    pace: (bytes) => (budget ? budget.acquire(bytes, shouldStop) : Promise.resolve()),
    memo: new Map(),
    shouldStop,
  }
  const walkPace = budget ? () => budget.acquire(0, shouldStop) : undefined
  const repos = (await registry.repositories(walkPace)).filter(
    (r) => resumeAfter === undefined || r > resumeAfter,
  )
  if (resumeAfter !== undefined) log('dedupe pass resuming', { after: resumeAfter })
  for (const repo of repos) {
    if (options.shouldStop?.()) return finish(false)
    if (!dedupe) {
      await pace()
      result.restored += await registry.restoreSharedBlobs(repo)
    } else
      for await (const digest of registry.blobDigests(repo)) {
        if (options.shouldStop?.()) return finish(false)
        await pace()
        result.blobs++
        const { saved, quarantined } = await dedupeBlob(registry, repo, digest, ctx)
        if (saved > 0) {
          result.linked++
          result.bytesSaved += saved
        }
        result.quarantined += quarantined
      }
    result.repositories++
    await db.setMeta(progressName, { after: repo } satisfies Progress)
    if (result.repositories % 50 === 0)
      log('dedupe pass progress', { ...result, remaining: repos.length - result.repositories })
  }
  await db.setMeta(progressName, {} satisfies Progress)
  return finish(true)

  function finish(complete: boolean): DedupePassResult {
    result.complete = complete
    result.ms = Math.round(performance.now() - began)
    const what = dedupe ? 'dedupe pass' : 'restore pass'
    log(complete ? `${what} complete` : `${what} paused`, { ...result })
    return result
  }
}

/** Resolves in time to keep to `perSecond` calls per second on average. */
function pacer(perSecond: number): () => Promise<void> {
  if (!Number.isFinite(perSecond)) return () => new Promise((r) => setImmediate(r))
  const interval = 1000 / perSecond
  let next = performance.now()
  return async () => {
    next += interval
    const wait = next - performance.now()
    if (wait > 1) await new Promise((r) => setTimeout(r, wait))
    else if (wait < -1000) next = performance.now() // fell behind (slow disk): do not burst to catch up
  }
}
