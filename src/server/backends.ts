// The storage backends a configuration names: the local filesystem under rootDirectory, or S3
// (storageDriver) with rootDirectory keeping only local state (engine index, lock, and upload
// staging, since S3 cannot append), as in zot. The server and the offline commands share this.
import type { OutpostConfig } from '../config/index.js'
import { FsDriver } from '../fsync/index.js'
import type { Logger } from '../log/logger.js'
import { resolveS3Settings, S3Driver } from '../s3/index.js'
import type { StorageDriver } from '../storage/index.js'

export interface Backends {
  /** where blobs, manifests and index.json live */
  driver: StorageDriver
  /** where upload sessions stage; the blobs' driver when it can append */
  staging?: StorageDriver
  close(): Promise<void>
}

export async function openBackends(
  store: OutpostConfig['storage'],
  logger?: Logger,
): Promise<Backends> {
  const { rootDirectory: root, commit } = store
  const local = new FsDriver({ root, commit })
  const s3 = store.storageDriver
  if (!s3) return { driver: local, close: async () => {} }
  const settings = resolveS3Settings(s3, { logger })
  for (const warning of settings.warnings) logger?.warn(`storageDriver: ${warning}`)
  const driver = new S3Driver(settings)
  return { driver, staging: local, close: async () => driver.close() }
}
