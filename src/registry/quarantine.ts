// Quarantine of corrupt content and its healing. A blob that fails its hash is moved out of every
// repository that links the same bytes (into _outpost/quarantine/, so the evidence survives and a
// lost index loses nothing), and the repositories that lost it are remembered; the next verified
// upload of that digest anywhere restores it in each of them.
import { randomUUID } from 'node:crypto'
import { layoutKeys } from '../layout/index.js'
import type { EngineDb } from '../engine-db/index.js'
import type { StorageDriver } from '../storage/index.js'
import type { Digest } from './digest.js'

export interface QuarantineDeps {
  driver: StorageDriver
  db: EngineDb
  log: (msg: string, fields?: Record<string, unknown>) => void
}

const lostKey = (digest: Digest) => `lost:${digest}`

/**
 * Move `repo`'s copy of `digest` to quarantine, and remove every other repository's name for the
 * same bytes (same identity). With `found`, the identity of the file that failed, nothing moves
 * when the name now holds another file (an upload replaced it). Returns the repositories that
 * lost the blob: none when nothing moved.
 */
export async function quarantineEverywhere(
  deps: QuarantineDeps,
  repo: string,
  digest: Digest,
  found?: string,
): Promise<string[]> {
  const { driver, db } = deps
  const key = layoutKeys.blob(repo, digest)
  const info = await driver.stat(key)
  if (!info) return []
  if (found !== undefined && info.identity !== found) return []
  const holders = new Set([repo, ...db.holders(digest.toString()).map(([r]) => r)])
  const sharing: string[] = []
  for (const holder of holders) {
    if (holder === repo) continue
    const other = await driver.stat(layoutKeys.blob(holder, digest))
    if (other && info.identity !== undefined && other.identity === info.identity)
      sharing.push(holder)
  }
  const aside = layoutKeys.quarantined(digest, randomUUID())
  // A reference's bytes live at its target (content kept once, see dedupe/shared-content.ts):
  // that is what goes aside, so no reference anywhere reads the corrupt bytes again.
  await driver.move(info.target ?? key, aside)
  if (info.target !== undefined) await driver.delete(key)
  for (const holder of sharing) await driver.delete(layoutKeys.blob(holder, digest))
  const lost = [repo, ...sharing]
  for (const holder of lost) {
    await db.deleteVerified(layoutKeys.blob(holder, digest))
    await db.deleteHolder(digest.toString(), holder)
  }
  const before = db.getMeta<string[]>(lostKey(digest)) ?? []
  await db.setMeta(lostKey(digest), [...new Set([...before, ...lost])])
  deps.log('corrupt blob quarantined', { digest: digest.toString(), aside, repositories: lost })
  return lost
}

/** Repositories waiting for `digest` to be uploaded again, other than `except`. */
export function lostIn(db: EngineDb, digest: Digest, except: string): string[] {
  return (db.getMeta<string[]>(lostKey(digest)) ?? []).filter((r) => r !== except)
}

/** Whether `repo` lost `digest` to quarantine and waits for it to be pushed again. */
export function isLost(db: EngineDb, digest: Digest, repo: string): boolean {
  return (db.getMeta<string[]>(lostKey(digest)) ?? []).includes(repo)
}

export async function forgetLost(db: EngineDb, digest: Digest): Promise<void> {
  if ((db.getMeta<string[]>(lostKey(digest)) ?? []).length > 0)
    await db.setMeta(lostKey(digest), [])
}
