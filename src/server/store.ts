// Opening one store: the storage root (which must exist), its backends and the ownership of it
// (lock, clean-stop epoch, engine index, registry). The server and the offline commands open
// stores the same way; with subPaths there is one store per subpath besides the default one.
import { stat } from 'node:fs/promises'
import type { OutpostConfig } from '../config/index.js'
import type { Logger } from '../log/logger.js'
import { type LogFn } from '../registry/index.js'
import { ownStorage, type OwnedStorage } from './storage-owner.js'
import type { BackendHealth } from '../storage/index.js'
import { openBackends } from './backends.js'

/** The settings of one store (the default storage section, or one subpath). */
export type StoreConfig = OutpostConfig['storage']

export class RootMissingError extends Error {
  constructor(readonly root: string) {
    super(
      `storage.rootDirectory ${root} does not exist. Outpost does not create a configured root: ` +
        'a missing disk must not silently become an empty registry. Create it (or mount it) first.',
    )
    this.name = 'RootMissingError'
  }
}

/** A configured root must be there already (RootMissingError otherwise). */
export async function requireRoot(root: string): Promise<void> {
  if (!(await stat(root).catch(() => null))?.isDirectory()) throw new RootMissingError(root)
}

export interface OpenStore {
  storage: OwnedStorage
  /** the health of the store's backends (readiness) */
  health: BackendHealth[]
  /** release the storage (clean-stop marker, lock) and the backends' connections */
  close(): Promise<void>
}

export async function openStore(
  store: StoreConfig,
  options: { holder: string; log: LogFn; logger?: Logger },
): Promise<OpenStore> {
  const root = store.rootDirectory
  await requireRoot(root)
  const backends = await openBackends(store, options.logger)
  let storage: OwnedStorage
  try {
    storage = await ownStorage({
      driver: backends.driver,
      staging: backends.staging,
      localRoot: root,
      commit: store.commit,
      log: options.log,
      holder: options.holder,
      dedupe: store.dedupe,
      minFreeSpace: store.minFreeSpace,
      locks: backends.locks,
      contents: backends.contents,
    })
  } catch (err) {
    await backends.close()
    throw err
  }
  return {
    storage,
    health: backends.health,
    async close() {
      await storage.close()
      await backends.close()
    },
  }
}
