// What the offline commands (gc, scrub) share: reading `[config.json] [--flag]` from the
// arguments (no file: the zero-config default of `outpost serve`, ./data), and taking the
// storage of that configuration for one pass: every store, the default one and each subpath's.
// Taking it holds each store's lock, so they refuse while a server (or another command) holds
// any of them; a pass that only looks (gc --dry-run) takes a read-only view instead, no lock.
import { stat } from 'node:fs/promises'
import { ConfigError, defaultConfig, loadConfig, type OutpostConfig } from '../config/index.js'
import { type Registry } from '../registry/index.js'
import { StorageBusyError } from '../server/storage-owner.js'
import { RootMissingError } from '../server/store.js'
import { viewStore } from '../server/store-view.js'
import { openStores, storeConfigs, type NamedStore } from '../server/stores.js'

export class UsageError extends Error {}

/** A failure whose message says it all (exit 1), e.g. no ./data for the zero-config default. */
export class OfflineError extends Error {}

export interface OfflineArgs {
  config: OutpostConfig
  flag: boolean
}

/** `[config.json] [flag]`: throws UsageError or ConfigError with a message for the user. */
export async function offlineArgs(
  command: string,
  args: string[],
  flag: string,
): Promise<OfflineArgs> {
  const files = args.filter((a) => a !== flag)
  if (files.length > 1) throw new UsageError(`${command} takes at most one config file`)
  const config = files[0] ? await loadConfig(files[0]) : defaultConfig()
  const root = config.storage.rootDirectory
  if (!files[0] && !(await stat(root).catch(() => null))?.isDirectory()) {
    throw new OfflineError(
      `${root} does not exist: without a config file, ${command} works on ./data, where ` +
        '"outpost serve" without one stores; give the config file of the server to work on',
    )
  }
  return { config, flag: args.includes(flag) }
}

/** What a pass works on in one store: the store's settings and its registry. */
export type OfflineStore = Pick<NamedStore, 'route' | 'config'> & { registry: Registry }

/**
 * Run `task` on each store of the configuration in turn (the default store first, then the
 * subpaths), owning all of them throughout; they are released after. One result per store.
 */
export async function withStorage<T>(
  config: OutpostConfig,
  holder: string,
  log: (msg: string, fields?: Record<string, unknown>) => void,
  task: (store: NamedStore) => Promise<T>,
): Promise<T[]> {
  const opened = await openStores(config, { holder, log })
  try {
    const results: T[] = []
    for (const store of opened.stores) results.push(await task(store))
    return results
  } finally {
    await opened.close()
  }
}

/**
 * As withStorage for a pass that only looks: a read-only view of each store (no lock, nothing
 * written), so it may run beside a server; a store's view is closed before the next is opened.
 */
export async function withStorageView<T>(
  config: OutpostConfig,
  task: (store: OfflineStore) => Promise<T>,
): Promise<T[]> {
  const results: T[] = []
  for (const { route, config: settings } of storeConfigs(config)) {
    const view = await viewStore(settings)
    try {
      results.push(await task({ route, config: settings, registry: view.registry }))
    } finally {
      await view.close()
    }
  }
  return results
}

/** The message and exit status for what an offline command may throw; undefined: a bug. */
export function offlineFailure(
  err: unknown,
  command: string,
  help: string,
): [string, number] | undefined {
  if (err instanceof UsageError) return [`${err.message}\n\n${help}`, 2]
  if (err instanceof ConfigError) return [`invalid configuration ${err.message}`, 2]
  if (err instanceof StorageBusyError) {
    return [
      `${err.message}; stop it first (the server runs ${command} online on its own schedule)`,
      1,
    ]
  }
  if (err instanceof RootMissingError || err instanceof OfflineError) return [err.message, 1]
  return undefined
}
