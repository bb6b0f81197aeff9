// The storage backends a store's configuration names: the local filesystem under rootDirectory,
// or S3 (storageDriver) with rootDirectory keeping only local state (engine index, lock, and
// upload staging, since S3 cannot append), as in zot; and, with a remote cache (cacheDriver),
// the DynamoDB table that holds the store's locks and content index, shared by every instance
// on the same bucket. The server and the offline commands share this.
import type { OutpostConfig } from '../config/index.js'
import { FsDriver } from '../storage/fs/index.js'
import type { Logger } from '../log/logger.js'
import type { ContentIndex } from '../engine-db/content-index.js'
import type { Locks } from '../util/locks.js'
import { watchHealth, type BackendHealth, type StorageDriver } from '../storage/index.js'

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

export async function openBackends(
  store: OutpostConfig['storage'],
  logger?: Logger,
): Promise<Backends> {
  const { rootDirectory: root, commit } = store
  // Every call's outcome feeds the backend's health (src/storage/health.ts, /readyz).
  const local = watchHealth(new FsDriver({ root, commit }))
  if (store.cacheDriverIgnored) {
    logger?.warn(
      'cacheDriver is ignored: remoteCache is false, so the local LMDB index is used (zot does the same)',
      { root },
    )
  }
  const s3 = store.storageDriver
  let driver: StorageDriver = local.driver
  const health = [local.health]
  let closeDriver = async () => {}
  if (s3) {
    // Loaded only when configured: a local store never pays for the AWS SDK.
    const { resolveS3Settings, S3Driver } = await import('../storage/s3/index.js')
    const settings = resolveS3Settings(s3, { logger })
    for (const warning of settings.warnings) logger?.warn(`storageDriver: ${warning}`)
    const s3Driver = new S3Driver(settings)
    const watched = watchHealth(s3Driver)
    driver = watched.driver
    health.unshift(watched.health)
    closeDriver = async () => s3Driver.close()
  }
  const backends: Backends = {
    driver,
    ...(s3 && { staging: local.driver }),
    health,
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
