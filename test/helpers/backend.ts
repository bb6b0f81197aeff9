// The storage backend the API tests run on: the local filesystem by default, or S3 when
// OUTPOST_TEST_BACKEND=s3. On S3 one s3rver serves the whole test process (started on first use,
// stopped after the last test); each storage root gets its own rootdirectory prefix in the bucket
// (the same prefix again when a root is reopened), and the root keeps only local state: the lock,
// the engine index and the upload staging, as the server's own backends do (src/server/backends.ts).
import { randomUUID } from 'node:crypto'
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3'
import { after } from 'node:test'
import type { OutpostConfig } from '../../src/config/index.js'
import { FsDriver } from '../../src/fsync/index.js'
import { resolveS3Settings, S3Driver, s3StorageDriverSchema } from '../../src/s3/index.js'
import type { StorageDriver } from '../../src/storage/index.js'
import { rawClient, s3rverDriverConfig, startS3rver, type S3Server } from './s3.js'

export type BackendName = 'fs' | 's3'

export const BACKEND: BackendName = process.env.OUTPOST_TEST_BACKEND === 's3' ? 's3' : 'fs'
export const ON_S3 = BACKEND === 's3'

/** Where a registry keeps its content, and how a server on the same root reaches it. */
export interface TestBackend {
  /** blobs, manifests and index.json */
  driver: StorageDriver
  /** upload sessions, when not on `driver` */
  staging?: StorageDriver
  /** storage settings for a server (socketServer) on the same store */
  storage: Partial<OutpostConfig['storage']>
  close(): void
}

let server: Promise<S3Server> | undefined
/** a bare client on the whole bucket, for strayBucketKeys */
let bucketClient: S3Client | undefined
/** rootdirectory prefix of each local root, so a reopened root finds its objects again */
const prefixes = new Map<string, string>()
const PREFIX_PARENT = 'registries'

if (ON_S3) {
  after(async () => {
    bucketClient?.destroy()
    if (server) await (await server).stop()
  })
}

/** The process's s3rver, started on first use. */
export function sharedS3rver(): Promise<S3Server> {
  server ??= startS3rver()
  return server
}

/** The backend for a registry on `root` (the filesystem driver on it, or S3 beside it). */
export async function backendFor(root: string, commit = false): Promise<TestBackend> {
  const local = new FsDriver({ root, commit })
  if (!ON_S3) return { driver: local, storage: {}, close: () => {} }
  const s3 = await sharedS3rver()
  let prefix = prefixes.get(root)
  if (prefix === undefined) {
    prefix = `${PREFIX_PARENT}/${randomUUID()}`
    prefixes.set(root, prefix)
  }
  const config = s3rverDriverConfig(s3, { rootdirectory: `/${prefix}/` })
  const driver = new S3Driver(resolveS3Settings(config))
  return {
    driver,
    staging: local,
    // S3 cannot hard-link: the config refuses dedupe there (src/config/schema.ts).
    storage: { storageDriver: s3StorageDriverSchema.parse(config), dedupe: false },
    close: () => driver.close(),
  }
}

/**
 * Bucket keys outside every registry's prefix: what a traversal would have reached on S3 (the
 * counterpart of a file outside the root). Empty on the filesystem backend.
 */
export async function strayBucketKeys(): Promise<string[]> {
  if (!ON_S3) return []
  const s3 = await sharedS3rver()
  bucketClient ??= rawClient(s3)
  const stray: string[] = []
  let token: string | undefined
  do {
    const out = await bucketClient.send(
      new ListObjectsV2Command({ Bucket: s3.bucket, ContinuationToken: token }),
    )
    for (const o of out.Contents ?? []) {
      const key = o.Key ?? ''
      const owned = [...prefixes.values()].some((p) => key.startsWith(`${p}/`))
      if (!owned) stray.push(key)
    }
    token = out.IsTruncated ? out.NextContinuationToken : undefined
  } while (token)
  return stray
}

/**
 * Whether `key` of the registry on `root` is written (or removed) from now on. On the
 * filesystem the file's mtime tells; on S3, whose Last-Modified has whole seconds, the s3rver
 * request log does (any PUT, POST or DELETE on the object).
 */
export async function watchKey(
  root: string,
  driver: StorageDriver,
  key: string,
): Promise<() => Promise<boolean>> {
  if (!ON_S3) {
    const before = await driver.stat(key)
    // Let the clock move on, so a rewrite gets another mtime.
    await new Promise((r) => setTimeout(r, 20))
    return async () => (await driver.stat(key))?.mtimeMs !== before?.mtimeMs
  }
  const s3 = await sharedS3rver()
  const objectPath = `/${s3.bucket}/${prefixes.get(root)}/${key}`
  const from = s3.requests.length
  return async () => {
    // The log comes over s3rver's stdout, which may trail its HTTP answers a little.
    await new Promise((r) => setTimeout(r, 50))
    return s3.requests
      .slice(from)
      .some((r) => r.path === objectPath && ['PUT', 'POST', 'DELETE'].includes(r.method))
  }
}
