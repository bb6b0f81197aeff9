// Garbage collection of one repository (docs/architecture.md §5.6), run under the repository's lock so
// a racing manifest PUT either sees all its blobs or fails with MANIFEST_BLOB_UNKNOWN. Marks what
// tags keep alive (manifests, index children, their configs and layers, referrers of live
// subjects), then removes unmarked manifests and blobs older than the delay. A blob's age is when
// it entered this repository (recorded in the index), never a file mtime: hard links share one.
import { layoutKeys, REF_NAME, type Descriptor, type IndexDocument } from '../layout/index.js'
import type { EngineDb } from '../engine-db/index.js'
import type { StorageDriver } from '../storage/index.js'
import type { BlobStore } from '../registry/blob-store.js'
import type { Registry, RegistryParts } from '../registry/registry.js'
import { ageMs, stampNow, type Clock } from '../util/clock.js'
import { Digest, type Algorithm } from '../registry/digest.js'
import type { ParsedManifest } from '../registry/manifest-rules.js'
import type { ManifestStore } from '../registry/manifests.js'
import type { Referrers } from '../registry/referrers.js'
import type { RepoIndexes } from '../registry/repo-index.js'

export interface GcPolicy {
  /** no blob younger than this is collected (gcDelay) */
  delayMs: number
  /** no untagged manifest or referrer younger than this is removed (zot retention delay) */
  manifestDelayMs: number
  /** remove untagged manifests that no index or live subject keeps (zot retention deleteUntagged) */
  deleteUntagged: boolean
  /** remove referrers whose subject is gone (zot retention deleteReferrers) */
  deleteReferrers: boolean
  /** report what would go, remove nothing */
  dryRun: boolean
  /** report the manifests retention would remove, but keep them (and so their blobs) */
  retentionDryRun: boolean
}

export interface RepoGcResult {
  repo: string
  manifests: string[]
  blobs: string[]
  bytes: number
  repositoryRemoved: boolean
  /** manifests retention would remove, kept because retention.dryRun is set */
  retainedByDryRun?: string[]
}

/** The parts of a registry a GC pass works with (Registry.parts). */
export type RepoGcDeps = Pick<
  RegistryParts,
  'driver' | 'staging' | 'db' | 'clock' | 'indexes' | 'blobs' | 'manifests' | 'referrers'
>

/** One garbage-collection pass over one repository of `registry`, under its lock. */
export async function collectGarbage(
  registry: Registry,
  repo: string,
  policy: GcPolicy,
): Promise<RepoGcResult> {
  const result = await collectRepository(registry.parts, repo, policy)
  // A removed layout wrote no index.json: its summary record goes too.
  if (result.repositoryRemoved) registry.summaries.touch(repo)
  return result
}

const ALGORITHMS: Algorithm[] = ['sha256', 'sha512']

export async function collectRepository(
  deps: RepoGcDeps,
  repo: string,
  policy: GcPolicy,
): Promise<RepoGcResult> {
  return deps.indexes.locked(repo, async () => {
    const result: RepoGcResult = {
      repo,
      manifests: [],
      blobs: [],
      bytes: 0,
      repositoryRemoved: false,
    }
    const doc = await deps.indexes.read(repo)
    if (!doc) return result
    const marks = await markLive(deps, repo, doc, policy)
    const dead = [...new Set(doc.manifests.map((d) => d.digest))].filter(
      (d) => !marks.manifests.has(d),
    )
    result.manifests = policy.retentionDryRun ? [] : dead
    if (policy.retentionDryRun) {
      result.retainedByDryRun = dead
      // Reported, not removed: what they reference must stay too.
      const reported = new Set(dead)
      for (const desc of doc.manifests) {
        if (reported.has(desc.digest)) await mark(deps, repo, marks, desc)
      }
    } else if (!policy.dryRun && dead.length > 0) {
      await dropManifests(deps, repo, dead, marks.parsed)
    }

    // A removed manifest's own file goes in the sweep below; it is listed (and counted) once,
    // as a manifest, its bytes with the freed ones.
    const removedManifests = new Set(result.manifests)
    let remaining = 0
    for (const algorithm of ALGORITHMS) {
      for await (const entry of deps.driver.list(layoutKeys.blobAlgorithmDir(repo, algorithm))) {
        if (entry.isPrefix) continue
        const digest = `${algorithm}:${entry.name}`
        if (marks.blobs.has(digest) || !(await oldEnough(deps, repo, digest, policy))) {
          remaining++
          continue
        }
        const info = await deps.driver.stat(layoutKeys.blob(repo, { algorithm, hex: entry.name }))
        if (!removedManifests.has(digest)) result.blobs.push(digest)
        // Bytes another repository still links to are not freed by removing this name.
        if (info && (info.links ?? 1) <= 1) result.bytes += info.size
        if (!policy.dryRun) await deps.blobs.delete(repo, Digest.parse(digest))
      }
    }
    if (remaining === 0 && marks.manifests.size === 0) {
      result.repositoryRemoved = policy.dryRun
        ? !(await hasUploads(deps, repo))
        : await removeIfEmpty(deps, repo)
    }
    return result
  })
}

interface Marks {
  manifests: Set<string>
  blobs: Set<string>
  parsed: Map<string, ParsedManifest | undefined>
}

async function parse(deps: RepoGcDeps, repo: string, marks: Marks, desc: Descriptor) {
  if (!marks.parsed.has(desc.digest)) {
    marks.parsed.set(desc.digest, await deps.manifests.parsed(repo, desc))
  }
  return marks.parsed.get(desc.digest)
}

/** Mark a manifest live, with everything it references (configs, layers, index children). */
async function mark(deps: RepoGcDeps, repo: string, marks: Marks, desc: Descriptor): Promise<void> {
  if (marks.manifests.has(desc.digest)) return
  marks.manifests.add(desc.digest)
  marks.blobs.add(desc.digest)
  const parsed = await parse(deps, repo, marks, desc)
  for (const blob of parsed?.blobs ?? []) marks.blobs.add(blob.digest.toString())
  for (const child of parsed?.manifests ?? []) {
    await mark(deps, repo, marks, {
      mediaType: child.mediaType,
      digest: child.digest.toString(),
      size: child.size,
    })
  }
}

async function markLive(
  deps: RepoGcDeps,
  repo: string,
  doc: IndexDocument,
  policy: GcPolicy,
): Promise<Marks> {
  const marks: Marks = { manifests: new Set(), blobs: new Set(), parsed: new Map() }
  const untagged: Descriptor[] = []
  for (const desc of doc.manifests) {
    if (desc.annotations?.[REF_NAME] !== undefined) await mark(deps, repo, marks, desc)
    else untagged.push(desc)
  }
  for (const desc of untagged) {
    // Young untagged manifests may be the children of an index being pushed right now.
    const young = !(await oldEnough(deps, repo, desc.digest, {
      delayMs: policy.manifestDelayMs,
      dryRun: policy.dryRun,
    }))
    const parsed = await parse(deps, repo, marks, desc)
    if (young || (!policy.deleteUntagged && !parsed?.subject)) await mark(deps, repo, marks, desc)
  }
  // Referrers live while their subject does; a referrer never keeps its subject alive.
  for (let changed = true; changed;) {
    changed = false
    for (const desc of untagged) {
      const subject = marks.parsed.get(desc.digest)?.subject?.digest.toString()
      if (!subject || marks.manifests.has(desc.digest)) continue
      if (marks.manifests.has(subject) || !policy.deleteReferrers) {
        await mark(deps, repo, marks, desc)
        changed = true
      }
    }
  }
  return marks
}

async function dropManifests(
  deps: RepoGcDeps,
  repo: string,
  dead: string[],
  parsed: Map<string, ParsedManifest | undefined>,
): Promise<void> {
  const doomed = new Set(dead)
  await deps.indexes.updateLocked(repo, (doc) => {
    doc.manifests = doc.manifests.filter((d) => !doomed.has(d.digest))
    return { changed: true, result: undefined }
  })
  for (const digest of dead) {
    const subject = parsed.get(digest)?.subject?.digest.toString()
    if (subject) await deps.referrers.forget(repo, subject, digest)
  }
  await deps.referrers.markCurrent(repo)
}

/**
 * Whether `digest` entered the repository at least `delay` ago. Unrecorded counts as new (and
 * is recorded now, except in a dry run, which writes nothing: it answers as the pass would).
 */
async function oldEnough(
  deps: RepoGcDeps,
  repo: string,
  digest: string,
  { delayMs, dryRun }: { delayMs: number; dryRun: boolean },
): Promise<boolean> {
  const holder = deps.db.getHolder(digest, repo)
  if (!holder) {
    const info = await deps.driver.stat(layoutKeys.blob(repo, Digest.parse(digest)))
    // A pass records every unrecorded blob: not waited for one by one (EngineDb.background).
    if (info && !dryRun)
      deps.db.background(
        deps.db.putHolder(digest, repo, { size: info.size, entered: stampNow(deps.clock) }),
      )
    return delayMs === 0 && info !== null
  }
  return ageMs(holder.entered, deps.clock) >= delayMs
}

/** Whether an upload session is open in the repository (which keeps it). */
async function hasUploads(deps: RepoGcDeps, repo: string): Promise<boolean> {
  for await (const _ of deps.staging.list(layoutKeys.uploadsDir(repo))) return true
  return false
}

/** A repository with nothing left (no manifests, blobs or uploads) leaves the catalog. */
async function removeIfEmpty(deps: RepoGcDeps, repo: string): Promise<boolean> {
  if (await hasUploads(deps, repo)) return false
  // An upload finishing meanwhile (its publish does not take this lock) has renamed its bytes
  // from .uploads/ into blobs/ since the sweep listed them: look again, in this order, so a
  // blob caught between the two places is seen in one of them.
  for (const algorithm of ALGORITHMS) {
    for await (const _ of deps.driver.list(layoutKeys.blobAlgorithmDir(repo, algorithm)))
      return false
  }
  await deps.driver.delete(layoutKeys.index(repo))
  await deps.driver.delete(layoutKeys.ociLayout(repo))
  deps.indexes.removed(repo)
  for (const algorithm of ALGORITHMS)
    await deps.driver.prune(layoutKeys.blobAlgorithmDir(repo, algorithm))
  await deps.driver.prune(repo)
  return true
}
