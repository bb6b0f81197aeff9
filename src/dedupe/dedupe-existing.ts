// The startup dedupe pass's unit on a store with hard links (src/dedupe/dedupe-pass.ts): a blob that
// another repository holds as a separate file becomes a link to that file.
//
// A link destroys one copy for good, so both copies are hashed first, whatever the engine index
// says: a verified record means the bytes matched when they were written or first served, not
// that they still do (bit rot on an SD card is what scrub is for), and a record is trusted across
// a clean restart. The price is one read of each separate copy, once: from then on the two names
// are one file, which the next pass tells from a stat and skips. A source that several
// repositories link to is hashed once per pass (the memo, keyed by the file's identity).
//
// What the hashes decide, as scrub would (see quarantine.ts): a copy that does not match goes to
// quarantine out of every repository naming that file, logged with the repositories; each of
// them is then given a good copy back by a link ("restored from a verified copy"). No name is
// ever linked to bytes that did not match. An unreadable copy is left alone for scrub to report.
import { layoutKeys } from '../layout/index.js'
import type { EngineDb } from '../engine-db/index.js'
import { StorageNotFoundError, type StorageDriver } from '../storage/index.js'
import type { BlobStore } from '../registry/blob-store.js'
import type { Registry } from '../registry/registry.js'
import { stampNow, type Clock } from '../util/clock.js'
import type { Digest } from '../registry/digest.js'
import { hashStoredPaced, STOPPED } from '../registry/hashing.js'
import { quarantineEverywhere } from '../registry/quarantine.js'
import type { HashMemo } from '../scrub/repo-scrub.js'

export interface DedupeDeps {
  driver: StorageDriver
  db: EngineDb
  blobs: BlobStore
  clock: Clock
  log: (msg: string, fields?: Record<string, unknown>) => void
  /** forget cached parses/bytes of a digest a repository lost to quarantine */
  forget: (repo: string, digest: string) => void
}

export interface DedupeContext {
  /** wait for the budget before hashing `bytes` more */
  pace: (bytes: number) => Promise<void>
  /** what each source file (by identity) hashed to in this pass */
  memo: HashMemo
  shouldStop: () => boolean
}

export interface DedupeOutcome {
  /** bytes freed by linking a good copy over another good copy */
  saved: number
  /** copies that did not match their digest, moved to quarantine */
  quarantined: number
}

/**
 * The startup dedupe pass's unit for one blob already stored: linked to another repository's
 * copy once both hash to the digest (dedupeByLink), or shared by reference on a store without
 * hard links (ShareByReference.shareExisting).
 */
export async function dedupeBlob(
  registry: Registry,
  repo: string,
  digest: Digest,
  ctx: DedupeContext,
): Promise<DedupeOutcome> {
  const { driver, db, clock, blobs, manifests, log, sharing } = registry.parts
  if (sharing.kind === 'reference')
    return { saved: await blobs.shareExisting(repo, digest, ctx.pace), quarantined: 0 }
  const forget = (r: string, d: string) => manifests.forget(r, d)
  return dedupeByLink({ driver, db, clock, blobs, log, forget }, repo, digest, ctx)
}

export async function dedupeByLink(
  deps: DedupeDeps,
  repo: string,
  digest: Digest,
  ctx: DedupeContext,
): Promise<DedupeOutcome> {
  const outcome: DedupeOutcome = { saved: 0, quarantined: 0 }
  const { driver, db, blobs } = deps
  const name = digest.toString()
  const key = layoutKeys.blob(repo, digest)
  const own = await driver.stat(key)
  if (!own) return outcome
  // Recorded whether or not it links: a rebuilt engine index gets its holders back this way.
  if (!db.getHolder(name, repo)) {
    db.background(db.putHolder(name, repo, { size: own.size, entered: stampNow(deps.clock) }))
  }
  if (blobs.sharing.kind !== 'link') return outcome

  // The first other repository's copy that still hashes to the digest; rotten ones go aside.
  let source: { repo: string; size: number } | undefined
  for (const [holder] of db.holders(name)) {
    if (holder === repo) continue
    const holderKey = layoutKeys.blob(holder, digest)
    const info = await driver.stat(holderKey)
    if (!info) {
      await db.deleteHolder(name, holder)
      continue
    }
    if (info.identity !== undefined && info.identity === own.identity) {
      if (outcome.quarantined === 0) return outcome // one file already: nothing to read
      break // own bytes may give back what was just quarantined: hashed below
    }
    const memoKey = info.identity ?? holderKey
    let actual = ctx.memo.get(memoKey)
    if (actual === undefined) {
      const hashed = await hashStoredPaced(
        driver,
        holderKey,
        digest.algorithm,
        ctx.pace,
        ctx.shouldStop,
      )
      if (hashed === STOPPED) return outcome
      actual = hashed.actual
      ctx.memo.set(memoKey, actual)
      if (actual === name) blobs.noteVerified(holder, digest, info.size)
    }
    if (actual === name) {
      source = { repo: holder, size: info.size }
      break
    }
    if (actual !== null)
      outcome.quarantined += await quarantine(deps, holder, digest, info.identity)
  }
  if (!source && outcome.quarantined === 0) return outcome // no other copy: nothing to dedupe

  const hashed = await hashStoredPaced(driver, key, digest.algorithm, ctx.pace, ctx.shouldStop)
  if (hashed === STOPPED || hashed.actual === null) return outcome
  if (hashed.actual !== name) {
    outcome.quarantined += await quarantine(deps, repo, digest, own.identity)
    if (source) await blobs.restoreLost(source.repo, digest, source.size, 'dedupe')
    return outcome
  }
  blobs.noteVerified(repo, digest, own.size)
  if (source) {
    try {
      await driver.link!(layoutKeys.blob(source.repo, digest), key)
    } catch (err) {
      if (err instanceof StorageNotFoundError) return outcome // collected meanwhile: kept
      throw err
    }
    outcome.saved = own.size
  }
  await blobs.restoreLost(source?.repo ?? repo, digest, source?.size ?? own.size, 'dedupe')
  return outcome
}

/** Quarantine as scrub does (every repository naming the file); 1 when it moved, else 0. */
async function quarantine(
  deps: DedupeDeps,
  repo: string,
  digest: Digest,
  identity: string | undefined,
): Promise<number> {
  const lost = await quarantineEverywhere(deps, repo, digest, identity)
  for (const r of lost) deps.forget(r, digest.toString())
  return lost.length > 0 ? 1 : 0
}
