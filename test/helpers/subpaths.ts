// Test helpers for zot's storage.subPaths: the settings of a subpath store, and one read view
// over several stores' drivers so that a test written against one registry's driver (storedKeys,
// watchKey, snapshot) sees every store: a key goes to the store its first segment routes to,
// exactly as RegistryRouter sends repositories (src/registry/router.ts).
import type { Readable } from 'node:stream'
import { resolveStorageSettings } from '../../src/config/index.js'
import type { StoreConfig } from '../../src/server/store.js'
import type { ListEntry, StorageDriver } from '../../src/storage/index.js'

/** A subpath store's resolved settings, as load.ts would resolve a minimal subpath section. */
export function subPathStore(root: string, extra: Partial<StoreConfig> = {}): StoreConfig {
  return {
    rootDirectory: root,
    commit: false,
    createRoot: false,
    uploadExpiryMs: 86_400_000,
    ...resolveStorageSettings({ rootDirectory: root }),
    ...extra,
  }
}

/**
 * One StorageDriver over the default store's driver and the routed ones, for reading what the
 * stores hold: each key is served by the driver its first segment routes to; the top-level
 * listing merges them all. Not for a registry to run on (it has no link or copy capability).
 */
export function routedView(
  fallback: StorageDriver,
  routes: Record<string, StorageDriver>,
): StorageDriver {
  const pick = (key: string) => routes[key.split('/')[0]] ?? fallback
  const all = [...new Set([fallback, ...Object.values(routes)])]
  return {
    get: (key) => pick(key).get(key),
    put: (key, bytes) => pick(key).put(key, bytes),
    read: (key, options) => pick(key).read(key, options),
    write: (key, source: Readable, options) => pick(key).write(key, source, options),
    stat: (key) => pick(key).stat(key),
    move: (from, to) => pick(from).move(from, to),
    delete: (key) => pick(key).delete(key),
    deletePrefix: (prefix) => pick(prefix).deletePrefix(prefix),
    prune: (prefix) => pick(prefix).prune(prefix),
    list(prefix: string): AsyncIterable<ListEntry> {
      if (prefix !== '') return pick(prefix).list(prefix)
      return (async function* () {
        const merged = new Map<string, boolean>()
        for (const driver of all) {
          for await (const e of driver.list('')) {
            // Only what this driver is the store of: another store's stray top-level entry
            // would not be reachable through the router either.
            if (pick(e.name) !== driver) continue
            merged.set(e.name, (merged.get(e.name) ?? false) || e.isPrefix)
          }
        }
        const names = [...merged.keys()].sort()
        for (const name of names) yield { name, isPrefix: merged.get(name)! }
      })()
    },
  }
}
