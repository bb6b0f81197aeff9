// What a sync to a target reads: every repository of the configuration (the default store, each
// subpath, each hosted directory) whose name matches the glob, each from the store that serves
// it, through a read-only view: `sync --to` never writes the local storage, so it may run while
// a server holds it. And the target itself: the S3 driver of an `uplink.targets` entry.
import type { OutpostConfig } from '../config/index.js'
import type { HostedSettings } from '../config/hosting.js'
import type { S3StorageDriverConfig } from '../config/s3-driver-options.js'
import { globToRegExp } from '../util/glob.js'
import { listRepositories } from '../registry/index.js'
import type { StorageDriver } from '../storage/index.js'
import type { SyncSource } from './push.js'

/** A driver and what releases it (an S3 client's sockets). */
export interface ClosableDriver {
  driver: StorageDriver
  close(): void
}

/**
 * How a sync opens drivers, given by its caller (the composition root, src/server/backends.ts):
 * s3-sync imports no driver package, so it works on whatever the configuration names.
 */
export interface SyncDrivers {
  /** a read-only view of a store's storage: its bucket, or its root directory */
  store(store: OutpostConfig['storage']): Promise<ClosableDriver>
  /** a read-only view of a hosted directory, its repositories under `mountAt` */
  hosted(hosted: HostedSettings): ClosableDriver
  /** the driver of an S3 bucket an uplink target names */
  target(settings: S3StorageDriverConfig): Promise<ClosableDriver>
}

export class UnknownTargetError extends Error {
  constructor(name: string, known: string[]) {
    super(
      `no uplink target ${JSON.stringify(name)} in the configuration` +
        (known.length ? ` (configured: ${known.join(', ')})` : ' (uplink.targets is empty)'),
    )
    this.name = 'UnknownTargetError'
  }
}

/** The driver of uplink target `name`. */
export async function openTarget(
  config: OutpostConfig,
  name: string,
  drivers: SyncDrivers,
): Promise<ClosableDriver> {
  const targets = config.uplink?.targets ?? {}
  if (!Object.hasOwn(targets, name)) throw new UnknownTargetError(name, Object.keys(targets))
  return drivers.target(targets[name])
}

export interface SyncPlan {
  sources: SyncSource[]
  close(): void
}

const firstSegment = (repo: string) => repo.split('/')[0]
const under = (repo: string, name: string) => repo === name || repo.startsWith(`${name}/`)

export async function planSync(
  config: OutpostConfig,
  drivers: SyncDrivers,
  glob = '**',
): Promise<SyncPlan> {
  const wanted = globToRegExp(glob)
  const routes = Object.keys(config.storage.subPaths ?? {})
  const hosted = config.hosting ?? []
  const closers: Array<() => void> = []
  const sources: SyncSource[] = []
  const add = async (driver: StorageDriver, owns: (repo: string) => boolean) => {
    for (const repo of await listRepositories(driver))
      if (owns(repo) && wanted.test(repo)) sources.push({ driver, repo })
  }
  const open = (opened: ClosableDriver): StorageDriver => {
    closers.push(opened.close)
    return opened.driver
  }
  const isHosted = (repo: string) => hosted.some((h) => under(repo, h.mountAt))
  try {
    await add(
      open(await drivers.store(config.storage)),
      (repo) => !routes.includes(firstSegment(repo)) && !isHosted(repo),
    )
    for (const route of routes)
      await add(
        open(await drivers.store(config.storage.subPaths![route])),
        (repo) => firstSegment(repo) === route && !isHosted(repo),
      )
    for (const h of hosted) {
      await add(open(drivers.hosted(h)), (repo) => under(repo, h.mountAt))
    }
  } catch (err) {
    for (const close of closers) close()
    throw err
  }
  sources.sort((a, b) => (a.repo < b.repo ? -1 : a.repo > b.repo ? 1 : 0))
  return { sources, close: () => closers.forEach((close) => close()) }
}
