// The storage backend the API tests run on, as the runner chose it for this process
// (backend-name.ts; test/run-passes.ts lists the passes): the local filesystem by default, or S3,
// subpaths, or memory. On S3 one s3rver serves the whole test process (started on first use,
// stopped after the last test); each storage root gets its own rootdirectory prefix in the bucket
// (the same prefix again when a root is reopened), and the root keeps only local state: the lock,
// the engine index and the upload staging, as the server's own backends do (src/server/backends.ts).
// On the subpaths backend a registry is three stores behind one router (zot's
// storage.subPaths): the default store on the root, a local subpath routed "m" and an S3 subpath
// routed "up", each subpath root a directory of its own kept per root (so a reopened root finds
// its subpaths again). The API tests' repositories spread over them: "m/..." (api-manifests,
// the catalog's "m/x-y") lands in the local subpath, "up/..." (api-uploads) in the S3 one, and
// everything else (team/, d/, bad/, ref/, list/, good/, ...) in the default store.
// On memory (the fast tier) blobs, manifests and upload staging live in one MemoryDriver per root
// (kept, so a reopened root finds its content again); the root keeps only the lock and the engine
// index. A server opened from a config (socketServer) cannot name an in-memory driver, so it runs
// on the filesystem at the root there.
import { randomUUID } from 'node:crypto'
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after } from 'node:test'
import type { OutpostConfig } from '../../src/config/index.js'
import { FsDriver } from '../../src/storage/fs/index.js'
import { resolveS3Settings, S3Driver, s3StorageDriverSchema } from '../../src/storage/s3/index.js'
import { openDriver, type StorageDriver } from '../../src/storage/index.js'
import { MemoryDriver } from '../../src/storage/memory/index.js'
import { backendFrom, type BackendName } from './backend-name.js'
import { rawClient, s3rverDriverConfig, startS3rver, type S3Server } from './s3.js'
import { routedView, subPathStore } from './subpaths.js'

export type { BackendName }

export const BACKEND: BackendName = backendFrom(process.env)
export const ON_S3 = BACKEND === 's3'
export const ON_SUBPATHS = BACKEND === 'subpaths'
/** whether this process uses s3rver at all (the S3 backend, or the S3 subpath) */
const USES_S3 = ON_S3 || ON_SUBPATHS

/** The subpath routes of the subpaths backend: a local store, and one on S3. */
export const SUBPATH_ROUTES = { local: 'm', s3: 'up' } as const

/** One store of a test registry: the default one (no route) or a subpath. */
export interface TestStore {
  route?: string
  /** its local root (lock, engine index; and its layout unless on S3) */
  root: string
  driver: StorageDriver
  staging?: StorageDriver
}

/** Where a registry keeps its content, and how a server on the same root reaches it. */
export interface TestBackend {
  /** blobs, manifests and index.json */
  driver: StorageDriver
  /** upload sessions, when not on `driver` */
  staging?: StorageDriver
  /** storage settings for a server (socketServer) on the same store */
  storage: Partial<OutpostConfig['storage']>
  /** the stores to open, the default one (on the root) first; more than one with subpaths */
  stores: TestStore[]
  close(): void
}

let server: Promise<S3Server> | undefined
/** a bare client on the whole bucket, for strayBucketKeys */
let bucketClient: S3Client | undefined
/** rootdirectory prefix of each local root, so a reopened root finds its objects again */
const prefixes = new Map<string, string>()
const PREFIX_PARENT = 'registries'

/** subpath roots of each default root, created on first use and removed after the file */
const subPathRoots = new Map<string, { local: string; s3: string }>()

/** the memory backend's store of each root, so a reopened root finds its content again */
const memoryStores = new Map<string, StorageDriver>()

if (USES_S3) {
  after(async () => {
    bucketClient?.destroy()
    if (server) await (await server).stop()
    for (const dirs of subPathRoots.values()) {
      for (const dir of Object.values(dirs)) await rm(dir, { recursive: true, force: true })
    }
  })
}

/** The process's s3rver, started on first use. */
export function sharedS3rver(): Promise<S3Server> {
  server ??= startS3rver()
  return server
}

/** The backend for a registry on `root`, on this process's backend. */
export async function backendFor(root: string, commit = false): Promise<TestBackend> {
  // Opened as the server opens its drivers: through the shared wrapper (key checks, errors).
  const only = (b: Omit<TestBackend, 'stores'>): TestBackend => ({
    ...b,
    stores: [{ root, driver: b.driver, staging: b.staging }],
  })
  switch (BACKEND) {
    case 'fs':
      return only({
        driver: openDriver(new FsDriver({ root, commit })),
        storage: {},
        close: () => {},
      })
    case 'memory': {
      let memory = memoryStores.get(root)
      if (!memory) {
        memory = openDriver(new MemoryDriver({ label: `memory (for ${root})` }))
        memoryStores.set(root, memory)
      }
      return only({ driver: memory, storage: {}, close: () => {} })
    }
    case 's3': {
      const s3 = await s3Store(root)
      const staging = openDriver(new FsDriver({ root, commit }))
      return only({ driver: s3.driver, staging, storage: s3.storage, close: s3.close })
    }
    case 'subpaths':
      return subPathsBackend(root, commit)
  }
}

/** The S3 side of a store whose local state is on `root`: its own prefix in the bucket. */
async function s3Store(root: string) {
  const s3 = await sharedS3rver()
  let prefix = prefixes.get(root)
  if (prefix === undefined) {
    prefix = `${PREFIX_PARENT}/${randomUUID()}`
    prefixes.set(root, prefix)
  }
  const config = s3rverDriverConfig(s3, { rootdirectory: `/${prefix}/` })
  const raw = new S3Driver(resolveS3Settings(config))
  return {
    driver: openDriver(raw),
    // S3 cannot hard-link: the config refuses dedupe there (src/config/schema.ts).
    storage: { storageDriver: s3StorageDriverSchema.parse(config), dedupe: false },
    close: () => raw.close(),
  }
}

/**
 * The default store on `root`, a local subpath and an S3 subpath. `driver` and `staging` are
 * read views over all three (test/helpers/subpaths.ts), so snapshots see every store.
 */
async function subPathsBackend(root: string, commit: boolean): Promise<TestBackend> {
  let dirs = subPathRoots.get(root)
  if (!dirs) {
    // Not beside the root: bad-input checks that the root's parent holds nothing else.
    const make = (name: string) => mkdtemp(join(tmpdir(), `outpost-subpath-${name}-`))
    dirs = { local: await make(SUBPATH_ROUTES.local), s3: await make(SUBPATH_ROUTES.s3) }
    subPathRoots.set(root, dirs)
  }
  const main = openDriver(new FsDriver({ root, commit }))
  const local = openDriver(new FsDriver({ root: dirs.local, commit }))
  const s3Staging = openDriver(new FsDriver({ root: dirs.s3, commit }))
  const s3 = await s3Store(dirs.s3)
  const { local: l, s3: r } = SUBPATH_ROUTES
  return {
    driver: routedView(main, { [l]: local, [r]: s3.driver }),
    staging: routedView(main, { [l]: local, [r]: s3Staging }),
    storage: {
      subPaths: {
        [l]: subPathStore(dirs.local, { commit }),
        [r]: subPathStore(dirs.s3, { commit, ...s3.storage }),
      },
    },
    stores: [
      { root, driver: main },
      { route: l, root: dirs.local, driver: local },
      { route: r, root: dirs.s3, driver: s3.driver, staging: s3Staging },
    ],
    close: s3.close,
  }
}

/**
 * Bucket keys outside every registry's prefix: what a traversal would have reached on S3 (the
 * counterpart of a file outside the root). Empty on the filesystem backend.
 */
export async function strayBucketKeys(): Promise<string[]> {
  if (!USES_S3) return []
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
    // The filesystem's mtime, or the memory driver's (milliseconds with a fraction, as a file's).
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
