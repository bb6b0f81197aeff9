// A read-only view of one store, for what only looks (gc --dry-run): no lock is taken, so it
// works while a server owns the store, and nothing is written anywhere in it. The layout is read
// through a ReadOnlyDriver (every write throws) keeping the link counts a GC reckons its freed
// bytes with; the engine index is opened read-only (LMDB readers in other processes are safe);
// no clean-stop marker is taken, no staging is cleared, and no remote lock table is opened:
// repository locks are in-process, since nothing here changes what they guard.
import { join } from 'node:path'
import { INDEX_DB_DIR } from '../layout/index.js'
import { EngineDb } from '../engine-db/index.js'
import { Registry } from '../registry/index.js'
import { ShareByCopy } from '../dedupe/index.js'
import { openBackends, openReadOnlyView } from './backends.js'
import { requireRoot, type StoreConfig } from './store.js'

export interface StoreView {
  registry: Registry
  close(): Promise<void>
}

/** Why a view cannot do what was asked: it would have to write (a damaged blob to quarantine). */
export const VIEW_SOURCE = 'a read-only view'

export async function viewStore(store: StoreConfig): Promise<StoreView> {
  const root = store.rootDirectory
  await requireRoot(root)
  const backends = await openBackends({ ...store, remoteCache: undefined })
  try {
    const readOnly = (driver: typeof backends.driver) =>
      openReadOnlyView(driver, { source: VIEW_SOURCE, linkCounts: true })
    const db = await EngineDb.openReadOnly(join(root, INDEX_DB_DIR))
    const driver = readOnly(backends.driver)
    const registry = new Registry({
      driver,
      staging: backends.staging && readOnly(backends.staging),
      db,
      epoch: 'read-only view',
      log: () => {},
      // A view shares nothing, restores nothing and sweeps nothing: it only looks.
      sharing: new ShareByCopy(driver),
    })
    return {
      registry,
      async close() {
        await db.close()
        await backends.close()
      },
    }
  } catch (err) {
    await backends.close()
    throw err
  }
}
