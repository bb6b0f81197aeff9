// The storage backends a store's configuration names: the local filesystem under rootDirectory,
// or S3 (storageDriver) with rootDirectory keeping only local state (engine index, lock, and
// upload staging, since S3 cannot append), as in zot; and, with a remote cache (cacheDriver),
// the DynamoDB table that holds the store's locks and content index, shared by every instance
// on the same bucket. The server and the offline commands share this.
//
// This is also the one place drivers are constructed (test/storage-wrapper.test.ts holds it):
// each goes through openDriver (src/storage/checked-driver.ts), so none can miss its key checks,
// error mapping and timing. Code below the server gets drivers from here, as s3-sync does
// through `syncDrivers`.
import type { OutpostConfig } from '../config/index.js'
import type { HostedSettings } from '../config/hosting.js'
import type { S3StorageDriverConfig } from '../config/s3-driver-options.js'
import { FsDriver } from '../storage/fs/index.js'
import type { Logger } from '../log/logger.js'
import type { ContentIndex } from '../engine-db/content-index.js'
import type { Locks } from '../util/locks.js'
import {
  can,
  openDriver,
  watchHealth,
  type BackendHealth,
  type StorageDriver,
} from '../storage/index.js'
import {
  ReadOnlyDriver,
  type ReadOnlyDriverOptions,
} from '../storage/read-only/read-only-driver.js'
import type { SyncDrivers } from '../s3-sync/index.js'

export interface Backends {
  /** where blobs, manifests and index.json live */
  driver: StorageDriver
  /** where upload sessions stage; the blobs' driver when it can append */
  staging?: StorageDriver
  /** shared locks and content index (remote cache); in-process and LMDB when absent */
  locks?: Locks
  contents?: ContentIndex
  /** what requests have seen of each backend (readiness), the blobs' driver's first */
  health: BackendHealth[]
  close(): Promise<void>
}

/** A driver opened through the shared wrapper, what requests see of it, and its release. */
export interface OpenedDriver {
  driver: StorageDriver
  health: BackendHealth
  close(): void
}

/** The driver of a local directory. */
export function openLocalDriver(root: string, commit: boolean): OpenedDriver {
  return { ...watchHealth(new FsDriver({ root, commit })), close: () => {} }
}

/** The driver of an S3 bucket (a zot-shaped storageDriver object). */
export async function openS3Driver(
  config: S3StorageDriverConfig,
  logger?: Logger,
): Promise<OpenedDriver> {
  // Loaded only when configured: a local store never pays for the AWS SDK.
  const { resolveS3Settings, S3Driver } = await import('../storage/s3/index.js')
  const settings = resolveS3Settings(config, { logger })
  for (const warning of settings.warnings) logger?.warn(`storageDriver: ${warning}`)
  const s3 = new S3Driver(settings)
  return { ...watchHealth(s3), close: () => s3.close() }
}

/** `inner` served read-only (see ReadOnlyDriver). */
export function openReadOnlyView(
  inner: StorageDriver,
  options: ReadOnlyDriverOptions,
): StorageDriver {
  return openDriver(new ReadOnlyDriver(inner, options))
}

export async function openBackends(
  store: OutpostConfig['storage'],
  logger?: Logger,
): Promise<Backends> {
  const { rootDirectory: root, commit } = store
  // Every call's outcome feeds the backend's health (src/storage/health.ts, /readyz).
  const local = openLocalDriver(root, commit)
  if (store.cacheDriverIgnored) {
    logger?.warn(
      'cacheDriver is ignored: remoteCache is false, so the local LMDB index is used (zot does the same)',
      { root },
    )
  }
  const blobs = store.storageDriver ? await openS3Driver(store.storageDriver, logger) : local
  const closeDriver = async () => blobs.close()
  const backends: Backends = {
    driver: blobs.driver,
    // Upload sessions grow by appends: a driver without them stages on the local root.
    ...(!can(blobs.driver, 'appends') && { staging: local.driver }),
    health: blobs === local ? [local.health] : [blobs.health, local.health],
    close: closeDriver,
  }
  if (!store.remoteCache) return backends
  for (const warning of store.remoteCache.warnings) logger?.warn(`cacheDriver: ${warning}`)
  try {
    // Loaded only when configured: a store without a remote cache never pays for the SDK.
    const { openDynamoCache } = await import('../dynamo/index.js')
    const log = (msg: string, fields?: Record<string, unknown>) => logger?.warn(msg, fields)
    const cache = await openDynamoCache(store.remoteCache, log)
    return {
      ...backends,
      locks: cache.locks,
      contents: cache.contents,
      async close() {
        await cache.close()
        await closeDriver()
      },
    }
  } catch (err) {
    await closeDriver()
    throw err
  }
}

/** The drivers `outpost sync` and the scheduled uplink read and write (src/s3-sync/plan.ts). */
export const syncDrivers: SyncDrivers = {
  async store(store) {
    const source = store.storageDriver
      ? `the bucket ${store.storageDriver.bucket}`
      : store.rootDirectory
    const opened = store.storageDriver
      ? await openS3Driver(store.storageDriver)
      : openLocalDriver(store.rootDirectory, false)
    return { driver: openReadOnlyView(opened.driver, { source }), close: opened.close }
  },
  hosted(hosted: HostedSettings) {
    const { driver } = openLocalDriver(hosted.path, false)
    const view = openReadOnlyView(driver, { source: hosted.path, mountAt: hosted.mountAt })
    return { driver: view, close: () => {} }
  },
  target: (config) => openS3Driver(config),
}
