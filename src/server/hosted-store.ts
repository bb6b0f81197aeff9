// Opening a hosted store (Outpost's `hosting`): a layout directory served read-only under a
// name prefix. Its bytes are read through a ReadOnlyDriver, so no write of any kind (upload
// staging, publish, delete, GC, quarantine) reaches the hosted directory; the store's engine
// state (lock, engine index, clean-stop marker, staging) lives in the storage root under
// _outpost/hosted/<name>/. A hosted store always starts as after a crash: the medium may have
// been changed while Outpost was stopped, so every blob is hashed once before it is first served.
import { mkdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { HostedSettings } from '../config/hosting.js'
import { ENGINE_DIR, layoutKeys, RESERVED_COMPONENTS, UPLOADS_DIR } from '../layout/index.js'
import type { StorageDriver } from '../storage/index.js'
import { type LogFn } from '../registry/index.js'
import { ownStorage } from './storage-owner.js'
import { openLocalDriver, openReadOnlyView } from './backends.js'
import type { OpenStore } from './store.js'

export class HostedMissingError extends Error {
  constructor(readonly path: string) {
    super(
      `hosted directory ${path} does not exist or is not a directory. Mount it (or remove it ` +
        'from "hosting") first: a missing medium must not silently serve nothing.',
    )
    this.name = 'HostedMissingError'
  }
}

/** Where a hosted store keeps its engine state, inside the storage root. */
export function hostedStateDir(rootDirectory: string, hosted: HostedSettings): string {
  return join(rootDirectory, layoutKeys.hostedState(hosted.mountAt))
}

/** "repository usb/alpine" for any key of that repository's layout. */
function describeKey(key: string): string {
  const parts = key.split('/')
  const end = parts.findIndex((p) => RESERVED_COMPONENTS.has(p) || p === UPLOADS_DIR)
  return `repository ${parts.slice(0, end === -1 ? parts.length : end).join('/')}`
}

/** The read-only view of a hosted directory, its keys under `hosted.mountAt`. */
export function hostedDriver(hosted: HostedSettings, state?: StorageDriver): StorageDriver {
  return openReadOnlyView(openLocalDriver(hosted.path, false).driver, {
    source: hosted.path,
    mountAt: hosted.mountAt,
    state: state && { prefix: ENGINE_DIR, driver: state },
    describe: describeKey,
  })
}

export async function openHostedStore(
  hosted: HostedSettings,
  rootDirectory: string,
  options: { holder: string; log: LogFn },
): Promise<OpenStore> {
  if (!(await stat(hosted.path).catch(() => null))?.isDirectory())
    throw new HostedMissingError(hosted.path)
  const stateDir = hostedStateDir(rootDirectory, hosted)
  await mkdir(stateDir, { recursive: true })
  const driver = hostedDriver(hosted, openLocalDriver(stateDir, false).driver)
  const storage = await ownStorage({
    driver,
    localRoot: stateDir,
    commit: false,
    log: (msg, fields) => options.log(msg, { hosted: hosted.path, ...fields }),
    holder: options.holder,
    dedupe: false,
    reverify: true,
  })
  // Not watched for readiness: a hosted directory is read-only content beside the stores.
  return { storage, health: [], close: () => storage.close() }
}
