// What the offline commands (gc, scrub) share: reading `<config.json> [--flag]` from the
// arguments, and taking the storage of that configuration for one pass. Taking it holds the
// storage lock, so they refuse while a server (or another command) holds the storage.
import { ConfigError, loadConfig, type OutpostConfig } from '../config/index.js'
import { StorageBusyError, type OwnedStorage } from '../registry/index.js'
import { openStore, RootMissingError } from '../server/store.js'

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

/** Run `task` owning the configuration's storage; the storage is released after. */
export async function withStorage<T>(
  config: OutpostConfig,
  holder: string,
  log: (msg: string, fields?: Record<string, unknown>) => void,
  task: (storage: OwnedStorage) => Promise<T>,
): Promise<T> {
  const store = await openStore(config.storage, { holder, log })
  try {
    return await task(store.storage)
  } finally {
    await store.close()
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
