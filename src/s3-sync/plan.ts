// What a sync to a target reads: every repository of the configuration (the default store, each
// subpath, each hosted directory) whose name matches the glob, each from the store that serves
// it, through a read-only view: `sync --to` never writes the local storage, so it may run while
// a server holds it. And the target itself: the S3 driver of an `uplink.targets` entry.
import type { OutpostConfig } from '../config/index.js'
import type { S3StorageDriverConfig } from '../storage/s3/index.js'
import { FsDriver } from '../storage/fs/index.js'
import { globToRegExp } from '../util/glob.js'
import { listRepositories } from '../registry/index.js'
import { resolveS3Settings, S3Driver } from '../storage/s3/index.js'
import type { StorageDriver } from '../storage/index.js'
import { ReadOnlyDriver } from '../storage/read-only/read-only-driver.js'
import type { SyncSource } from './push.js'

export class UnknownTargetError extends Error {
  constructor(name: string, known: string[]) {
    super(
      `no uplink target ${JSON.stringify(name)} in the configuration` +
        (known.length ? ` (configured: ${known.join(', ')})` : ' (uplink.targets is empty)'),
    )
    this.name = 'UnknownTargetError'
  }
}

/** An S3 driver on the bucket and prefix of a zot-shaped storageDriver object. */
export function s3DriverFor(settings: S3StorageDriverConfig): S3Driver {
  return new S3Driver(resolveS3Settings(settings))
}

/** The driver of uplink target `name`. */
export function openTarget(config: OutpostConfig, name: string): S3Driver {
  const targets = config.uplink?.targets ?? {}
  if (!Object.hasOwn(targets, name)) throw new UnknownTargetError(name, Object.keys(targets))
  return s3DriverFor(targets[name])
}

export interface SyncPlan {
  sources: SyncSource[]
  close(): void
}

const firstSegment = (repo: string) => repo.split('/')[0]
const under = (repo: string, name: string) => repo === name || repo.startsWith(`${name}/`)

export async function planSync(config: OutpostConfig, glob = '**'): Promise<SyncPlan> {
  const wanted = globToRegExp(glob)
  const routes = Object.keys(config.storage.subPaths ?? {})
  const hosted = config.hosting ?? []
  const closers: Array<() => void> = []
  const sources: SyncSource[] = []
  const add = async (driver: StorageDriver, owns: (repo: string) => boolean) => {
    for (const repo of await listRepositories(driver))
      if (owns(repo) && wanted.test(repo)) sources.push({ driver, repo })
  }
  const storeDriver = (store: OutpostConfig['storage']): StorageDriver => {
    const source = store.storageDriver
      ? `the bucket ${store.storageDriver.bucket}`
      : store.rootDirectory
    if (store.storageDriver) {
      const s3 = s3DriverFor(store.storageDriver)
      closers.push(() => s3.close())
      return new ReadOnlyDriver(s3, { source })
    }
    return new ReadOnlyDriver(new FsDriver({ root: store.rootDirectory, commit: false }), {
      source,
    })
  }
  const isHosted = (repo: string) => hosted.some((h) => under(repo, h.mountAt))
  try {
    await add(
      storeDriver(config.storage),
      (repo) => !routes.includes(firstSegment(repo)) && !isHosted(repo),
    )
    for (const route of routes)
      await add(
        storeDriver(config.storage.subPaths![route]),
        (repo) => firstSegment(repo) === route && !isHosted(repo),
      )
    for (const h of hosted) {
      const driver = new ReadOnlyDriver(new FsDriver({ root: h.path, commit: false }), {
        source: h.path,
        mountAt: h.mountAt,
      })
      await add(driver, (repo) => under(repo, h.mountAt))
    }
  } catch (err) {
    for (const close of closers) close()
    throw err
  }
  sources.sort((a, b) => (a.repo < b.repo ? -1 : a.repo > b.repo ? 1 : 0))
  return { sources, close: () => closers.forEach((close) => close()) }
}
