// Taking and releasing ownership of a storage root: the lock that keeps two servers (or a server
// and an offline command) apart, the clean-stop marker that tells a clean restart from a crash,
// and the engine index. docs/architecture.md §4 (_outpost/lock, _outpost/clean-stop).
import { randomUUID } from 'node:crypto'
import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { CLEAN_STOP_FILE, INDEX_DB_DIR, layoutKeys, LOCK_FILE, TMP_DIR } from '../layout/index.js'
import { acquireLock, LockHeldError } from '../storage/fs/index.js'
import { EngineDb } from '../engine-db/index.js'
import type { StorageDriver } from '../storage/index.js'
import { can, StorageNotFoundError } from '../storage/index.js'
import type { Clock } from '../util/clock.js'
import type { FreeSpaceSetting } from '../registry/space-guard.js'
import { Registry, type LogFn } from '../registry/registry.js'
import type { ContentIndex } from '../engine-db/content-index.js'
import { LocalLocks, type Locks } from '../util/locks.js'
import type { Sharing } from '../registry/sharing.js'
import {
  hasLink,
  ShareByCopy,
  ShareByLink,
  ShareByReference,
  SharedContent,
} from '../dedupe/index.js'

export interface OwnedStorage {
  registry: Registry
  db: EngineDb
  /** false after a crash or power cut: blobs are re-hashed before they are first served */
  cleanStart: boolean
  /** whether identical blobs are linked across repositories in this run */
  dedupe: boolean
  /** writes the clean-stop marker and releases the lock */
  close(): Promise<void>
}

export interface OwnStorageOptions {
  driver: StorageDriver
  /** where upload sessions stage (local disk when `driver` is remote); `driver` when omitted */
  staging?: StorageDriver
  /** local directory for the engine index (the storage root on the filesystem) */
  localRoot: string
  commit: boolean
  log: LogFn
  /** what holds the lock, e.g. "serve" */
  holder: string
  /** link identical blobs across repositories (zot's dedupe; default true) */
  dedupe?: boolean
  clock?: Clock
  minFreeSpace?: FreeSpaceSetting
  /** shared locks and content index (DynamoDB) when several instances serve one store */
  locks?: Locks
  contents?: ContentIndex
  /**
   * Trust no previous run, however it stopped: every blob is hashed before it is first served
   * (a hosted directory, which other tools may change while Outpost is stopped). Not a crash, so
   * not logged as one.
   */
  reverify?: boolean
}

export class StorageBusyError extends Error {
  constructor(readonly holder: string) {
    super(`storage is in use by ${holder}`)
    this.name = 'StorageBusyError'
  }
}

export async function ownStorage(options: OwnStorageOptions): Promise<OwnedStorage> {
  const { driver, log } = options
  // Engine state that belongs to this instance (what it verified, its staging) is local; with a
  // remote store shared by several instances, the store holds none of it.
  const local = options.staging ?? driver
  let release: () => Promise<void>
  try {
    release = await acquireLock(join(options.localRoot, LOCK_FILE), options.holder)
  } catch (err) {
    if (err instanceof LockHeldError) throw new StorageBusyError(err.owner)
    throw err
  }
  try {
    // Staging left by a crash is garbage: nothing can be mid-write while we hold the lock.
    await local.deletePrefix(TMP_DIR)
    // Only a root that an earlier run left an engine index in can have crashed: the first start
    // on a new root (or on a layout another tool wrote) finds none, and is no unclean stop.
    const ranBefore = await exists(join(options.localRoot, INDEX_DB_DIR, 'data.mdb'))
    const { epoch, cleanStart } = await takeCleanStop(local, options.reverify ?? false)
    if (!cleanStart && ranBefore && !options.reverify)
      log('unclean shutdown detected; blobs are re-verified before they are first served')
    const db = await EngineDb.open({
      path: join(options.localRoot, INDEX_DB_DIR),
      commit: options.commit,
      log,
    })
    // One lock space for the repositories and the shared content (DESIGN.md invariant 5).
    const locks = options.locks ?? new LocalLocks()
    const contents = () => options.contents ?? db.contentIndex()
    const sharing = await chooseSharing(driver, options.dedupe ?? true, { contents, locks, log })
    const registry = new Registry({
      driver,
      staging: options.staging,
      db,
      epoch,
      log,
      sharing,
      clock: options.clock,
      minFreeSpace: options.minFreeSpace,
      locks,
    })
    return {
      registry,
      db,
      cleanStart,
      dedupe: sharing.kind !== 'copy',
      async close() {
        // Summary refreshes scheduled by the last writes (a GC that removed a repository) finish
        // before the index they write to closes.
        await registry.summaries.settled()
        await db.flushed()
        await db.close()
        await local.put(CLEAN_STOP_FILE, Buffer.from(epoch))
        await release()
      },
    }
  } catch (err) {
    await release()
    throw err
  }
}

/**
 * Read and remove the clean-stop marker. Present: the last run stopped cleanly and its epoch
 * (what it verified) is still trusted. Absent: a crash, so a new epoch makes every blob be
 * re-hashed before it is first served (as with `reverify`, whatever the marker says).
 */
async function takeCleanStop(
  driver: StorageDriver,
  reverify: boolean,
): Promise<{ epoch: string; cleanStart: boolean }> {
  try {
    const epoch = (await driver.get(CLEAN_STOP_FILE)).toString('utf8').trim()
    await driver.delete(CLEAN_STOP_FILE)
    if (epoch.length > 0 && !reverify) return { epoch, cleanStart: true }
  } catch (err) {
    if (!(err instanceof StorageNotFoundError)) throw err
  }
  return { epoch: randomUUID(), cleanStart: false }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  )
}

/**
 * The one way this store shares identical content (registry/sharing.ts), from its driver's
 * capabilities and the dedupe setting: hard links where the store has them and they work,
 * references to one shared copy where it has `refer` and `copy` instead (S3), else copies.
 */
async function chooseSharing(
  driver: StorageDriver,
  dedupe: boolean,
  shared: { contents: () => ContentIndex; locks: Locks; log: LogFn },
): Promise<Sharing> {
  // Kept with dedupe off too: what an earlier run shared by reference is restored and swept.
  const byReference =
    !hasLink(driver) && SharedContent.supported(driver)
      ? new SharedContent({ driver, ...shared, contents: shared.contents() })
      : undefined
  if (!dedupe) return new ShareByCopy(driver, byReference)
  if (byReference) return new ShareByReference(byReference)
  if (hasLink(driver) && (SharedContent.supported(driver) || (await canLink(driver))))
    return new ShareByLink(driver)
  shared.log('the storage cannot hard-link; dedupe is disabled')
  return new ShareByCopy(driver)
}

/** Whether the driver can really share bytes (some filesystems refuse hard links). */
async function canLink(driver: StorageDriver): Promise<boolean> {
  if (!can(driver, 'link')) return false
  const probe = layoutKeys.tmp(`link-probe-${randomUUID()}`)
  try {
    await driver.put(probe, Buffer.from('probe'))
    await driver.link(probe, `${probe}-linked`)
    return true
  } catch {
    return false
  } finally {
    await driver.delete(probe).catch(() => {})
    await driver.delete(`${probe}-linked`).catch(() => {})
  }
}
