// What the offline commands (gc, scrub) share: reading `<config.json> [--flag]` from the
// arguments, and taking the storage of that configuration for one pass: every store, the default
// one and each subpath's. Taking it holds each store's lock, so they refuse while a server (or
// another command) holds any of them.
import { ConfigError, loadConfig, type OutpostConfig } from '../config/index.js'
import { StorageBusyError } from '../registry/index.js'
import { RootMissingError } from '../server/store.js'
import { openStores, type NamedStore } from '../server/stores.js'

export class UsageError extends Error {}

export interface OfflineArgs {
  config: OutpostConfig
  flag: boolean
}

/** `<config.json> [flag]`: throws UsageError or ConfigError with a message for the user. */
export async function offlineArgs(
  command: string,
  args: string[],
  flag: string,
): Promise<OfflineArgs> {
  const files = args.filter((a) => a !== flag)
  if (files.length !== 1) throw new UsageError(`${command} takes exactly one config file`)
  return { config: await loadConfig(files[0]), flag: args.includes(flag) }
}

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
  if (err instanceof RootMissingError) return [err.message, 1]
  return undefined
}
