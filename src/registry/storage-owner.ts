// Taking and releasing ownership of a storage root: the lock that keeps two servers (or a server
// and an offline command) apart, the clean-stop marker that tells a clean restart from a crash,
// and the engine index. DESIGN.md §3 (_outpost/lock, _outpost/clean-stop).
import { randomUUID } from 'node:crypto'
import { join } from 'node:path'
import { CLEAN_STOP_FILE, ENGINE_DIR, INDEX_DB_DIR, LOCK_FILE } from '../fs-layout/index.js'
import { IndexDb } from '../index-db/index.js'
import type { StorageDriver } from '../storage/index.js'
import { StorageNotFoundError } from '../storage/index.js'
import { Registry, type LogFn } from './registry.js'

export interface OwnedStorage {
  registry: Registry
  db: IndexDb
  /** false after a crash or power cut: blobs are re-hashed before they are first served */
  cleanStart: boolean
  /** writes the clean-stop marker and releases the lock */
  close(): Promise<void>
}

export interface OwnStorageOptions {
  driver: StorageDriver
  /** local directory for the engine index (the storage root on the filesystem) */
  localRoot: string
  commit: boolean
  log: LogFn
  /** what holds the lock, e.g. "serve" */
  holder: string
}

export class StorageBusyError extends Error {
  constructor(readonly holder: string) {
    super(`storage is in use by ${holder}`)
    this.name = 'StorageBusyError'
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

export async function ownStorage(options: OwnStorageOptions): Promise<OwnedStorage> {
  const { driver, log } = options
  const lock = await driver.get(LOCK_FILE).catch(() => null)
  if (lock) {
    const owner = JSON.parse(lock.toString('utf8') || '{}') as { pid?: number; holder?: string }
    if (owner.pid && owner.pid !== process.pid && alive(owner.pid)) {
      throw new StorageBusyError(`${owner.holder ?? 'another process'} (pid ${owner.pid})`)
    }
  }
  await driver.put(
    LOCK_FILE,
    Buffer.from(JSON.stringify({ pid: process.pid, holder: options.holder })),
  )
  // Staging left by a crash is garbage: nothing can be mid-write while we hold the lock.
  await driver.deletePrefix(`${ENGINE_DIR}/tmp`)

  let epoch: string
  let cleanStart: boolean
  try {
    epoch = (await driver.get(CLEAN_STOP_FILE)).toString('utf8').trim()
    cleanStart = epoch.length > 0
    await driver.delete(CLEAN_STOP_FILE)
  } catch (err) {
    if (!(err instanceof StorageNotFoundError)) throw err
    epoch = ''
    cleanStart = false
  }
  if (!cleanStart) {
    epoch = randomUUID()
    log('unclean shutdown detected; blobs are re-verified before they are first served')
  }

  const db = await IndexDb.open({
    path: join(options.localRoot, INDEX_DB_DIR),
    commit: options.commit,
    log,
  })
  const registry = new Registry({ driver, db, epoch, log })
  return {
    registry,
    db,
    cleanStart,
    async close() {
      await db.flushed()
      await db.close()
      await driver.put(CLEAN_STOP_FILE, Buffer.from(epoch))
      await driver.delete(LOCK_FILE)
    },
  }
}
