// What UploadSessions (uploads.ts) takes and gives: its dependencies, a PATCH's options and a
// session's progress.
import type { EngineDb } from '../engine-db/index.js'
import type { StorageDriver } from '../storage/index.js'
import type { BlobStore } from './blob-store.js'
import type { Clock } from '../util/clock.js'
import type { SpaceGuard } from './space-guard.js'

export interface UploadProgress {
  id: string
  /** bytes received so far */
  offset: number
}

export interface AppendOptions {
  /** Content-Range of a chunk: must start where the session ends */
  range?: { start: number; end: number }
  /** the body's length when the client declared it (Content-Length) */
  length?: number
  signal?: AbortSignal
}

export interface UploadSessionsOptions {
  /** where sessions stage their bytes (local disk, whatever the blobs' backend) */
  driver: StorageDriver
  db: EngineDb
  blobs: BlobStore
  /**
   * Run `task` under the repository's lock once its oci-layout and index.json exist, so a GC
   * pass cannot remove the repository between its creation and the blob's arrival.
   */
  inRepository: <T>(repo: string, task: () => Promise<T>) => Promise<T>
  space: SpaceGuard
  clock: Clock
}
