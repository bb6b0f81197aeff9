// Opening every store of a configuration: the default one (the storage section) and one per
// subpath (zot's storage.subPaths), each with openStore. All or nothing: when one fails to open,
// those already open are released again, so no lock is left held by a server that never ran.
import type { OutpostConfig } from '../config/index.js'
import type { Logger } from '../log/logger.js'
import { RegistryRouter, type LogFn } from '../registry/index.js'
import { type OwnedStorage } from './storage-owner.js'
import type { BackendHealth } from '../storage/index.js'
import { openStore, type OpenStore, type StoreConfig } from './store.js'
import { openHostedStore } from './hosted-store.js'

export interface NamedStore {
  /** the subpath's route without its slash ("a" for "/a"); undefined for the default store */
  route?: string
  config: StoreConfig
  storage: OwnedStorage
  /** the health of its backends (readiness) */
  health: BackendHealth[]
}

export interface OpenStores {
  /** the default store first, then the subpaths in configuration order */
  stores: NamedStore[]
  /**
   * the read-only hosted stores (Outpost's `hosting`), by the name they serve; apart from
   * `stores` so that no upkeep or offline pass (GC, scrub, dedupe) ever runs on them
   */
  hosted: Array<{ mountAt: string; path: string; storage: OwnedStorage }>
  router: RegistryRouter
  /** release every store */
  close(): Promise<void>
}

/** The stores of `config`, the default one first; each entry's `config` is its own settings. */
export function storeConfigs(
  config: OutpostConfig,
): Array<{ route?: string; config: StoreConfig }> {
  const subPaths = Object.entries(config.storage.subPaths ?? {})
  return [
    { config: config.storage },
    ...subPaths.map(([route, store]) => ({ route, config: store })),
  ]
}

/** Where a store is, for messages: "/" for the default store, "/a" for a subpath. */
export function storeLabel(store: { route?: string }): string {
  return `/${store.route ?? ''}`
}

export async function openStores(
  config: OutpostConfig,
  options: { holder: string; log: LogFn; logger?: Logger },
): Promise<OpenStores> {
  const opened: Array<{ named: NamedStore; handle: OpenStore }> = []
  const hosted: Array<{ entry: OpenStores['hosted'][number]; handle: OpenStore }> = []
  const close = async () => {
    // Subpaths first, the default store last: the reverse of opening.
    const errors: unknown[] = []
    for (const { handle } of [...hosted, ...opened].reverse())
      await handle.close().catch((e) => errors.push(e))
    if (errors.length) throw errors[0]
  }
  try {
    const configs = storeConfigs(config)
    for (const { route, config: store } of configs) {
      // With several stores, the storage's own lines (quarantine, dedupe) name theirs.
      const log: LogFn =
        configs.length > 1
          ? (msg, fields) => options.log(msg, { store: storeLabel({ route }), ...fields })
          : options.log
      const handle = await openStore(store, { ...options, log })
      const named = { route, config: store, storage: handle.storage, health: handle.health }
      opened.push({ named, handle })
    }
    for (const h of config.hosting ?? []) {
      const handle = await openHostedStore(h, config.storage.rootDirectory, options)
      hosted.push({ entry: { mountAt: h.mountAt, path: h.path, storage: handle.storage }, handle })
    }
  } catch (err) {
    await close().catch(() => {})
    throw err
  }
  const stores = opened.map((o) => o.named)
  const router = new RegistryRouter(
    stores[0].storage.registry,
    Object.fromEntries(stores.slice(1).map((s) => [s.route!, s.storage.registry])),
    Object.fromEntries(hosted.map(({ entry }) => [entry.mountAt, entry.storage.registry])),
  )
  return { stores, hosted: hosted.map((h) => h.entry), router, close }
}
