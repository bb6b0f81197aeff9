// `outpost sync --to|--from <target> [--repos GLOB] [--config FILE]`: copy repositories to an
// uplink target (an S3 bucket, in the layout Outpost's S3 backend serves) or seed the local
// storage from one. --to only reads the local storage (through a read-only view), so it runs
// whether or not a server holds it. --from writes through the registry of the storage it opens,
// which needs the stores' locks: while a server runs it refuses (stop the server, or let the
// server pull from a registry instead). One JSON line per repository, a summary line last; exit 1
// when any repository failed.
import { ConfigError, loadConfig, type OutpostConfig } from '../config/index.js'
import { globToRegExp } from '../util/glob.js'
import { listRepositories } from '../registry/index.js'
import { StorageBusyError } from '../server/storage-owner.js'
import { RootMissingError } from '../server/store.js'
import { openStores } from '../server/stores.js'
import { syncDrivers } from '../server/backends.js'
import { sharedBudget } from '../server/upkeep.js'
import {
  openTarget,
  planSync,
  syncFrom,
  syncTo,
  UnknownTargetError,
  type ClosableDriver,
  type SyncReport,
} from '../s3-sync/index.js'
import { SYNC_HELP } from './help.js'
import { UsageError } from './offline.js'

export const DEFAULT_CONFIG = '/etc/outpost/config.json'

export interface SyncArgs {
  direction: 'to' | 'from'
  target: string
  repos: string
  configFile: string
}

export function parseSyncArgs(args: string[]): SyncArgs {
  const values: Record<string, string> = {}
  for (let i = 0; i < args.length; i++) {
    const flag = args[i]
    if (!['--to', '--from', '--repos', '--config'].includes(flag))
      throw new UsageError(`unknown argument ${JSON.stringify(flag)}`)
    const value = args[++i]
    if (value === undefined || value.startsWith('--')) throw new UsageError(`${flag} needs a value`)
    values[flag.slice(2)] = value
  }
  if ((values.to === undefined) === (values.from === undefined))
    throw new UsageError('give exactly one of --to <target> or --from <target>')
  return {
    direction: values.to !== undefined ? 'to' : 'from',
    target: values.to ?? values.from,
    repos: values.repos ?? '**',
    configFile: values.config ?? DEFAULT_CONFIG,
  }
}

/** Run one sync; `out` gets JSON lines. Throws UsageError, ConfigError, UnknownTargetError. */
export async function runSyncCommand(
  args: SyncArgs,
  out: (line: string) => void,
  shouldStop: () => boolean = () => false,
): Promise<SyncReport> {
  const config = await loadConfig(args.configFile)
  const log = (msg: string, fields?: Record<string, unknown>) =>
    out(JSON.stringify({ msg, ...fields }))
  const target = await openTarget(config, args.target, syncDrivers)
  const options = {
    rate: config.uplink?.rate ?? Infinity,
    budget: await sharedBudget(config, () => 0, log),
    shouldStop,
    log,
  }
  try {
    const report =
      args.direction === 'to'
        ? await pushAll(config, args.repos, target, options)
        : await seedAll(config, args.repos, target, options)
    log(`sync ${args.direction} ${args.target} done`, { ...report })
    return report
  } finally {
    target.close()
  }
}

async function pushAll(
  config: OutpostConfig,
  repos: string,
  target: ClosableDriver,
  options: Parameters<typeof syncTo>[2],
): Promise<SyncReport> {
  const plan = await planSync(config, syncDrivers, repos)
  try {
    return await syncTo(plan.sources, target.driver, options)
  } finally {
    plan.close()
  }
}

async function seedAll(
  config: OutpostConfig,
  repos: string,
  target: ClosableDriver,
  options: Parameters<typeof syncTo>[2],
): Promise<SyncReport> {
  let opened
  try {
    opened = await openStores(config, { holder: 'sync --from', log: options?.log ?? (() => {}) })
  } catch (err) {
    if (err instanceof StorageBusyError)
      throw new StorageBusyError(
        `${err.holder}; sync --from writes through the storage's own registry, so it runs ` +
          'only while no server does: stop the server first (sync --to may run at any time)',
      )
    throw err
  }
  try {
    const wanted = globToRegExp(repos)
    const names = (await listRepositories(target.driver)).filter((r) => wanted.test(r))
    return await syncFrom(target.driver, names, opened.router, options)
  } finally {
    await opened.close()
  }
}

/** The `outpost sync` command: arguments, signals, output and exit status. */
export async function syncCommand(args: string[]): Promise<void> {
  if (args.includes('--help') || args.includes('-h')) return void process.stdout.write(SYNC_HELP)
  const fail = (message: string, code: number) => {
    process.stderr.write(`outpost: ${message}\n`)
    process.exit(code)
  }
  // SIGINT/SIGTERM: finish the object in flight, write no index.json after it, and stop.
  let stopping = false
  const stop = () => void (stopping = true)
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  try {
    const report = await runSyncCommand(
      parseSyncArgs(args),
      (line) => process.stdout.write(`${line}\n`),
      () => stopping,
    )
    if (report.failed.length > 0 || stopping) process.exitCode = 1
  } catch (err) {
    if (err instanceof UsageError) return fail(`${err.message}\n\n${SYNC_HELP}`, 2)
    if (err instanceof ConfigError) return fail(`invalid configuration ${err.message}`, 2)
    if (err instanceof UnknownTargetError) return fail(err.message, 2)
    if (err instanceof StorageBusyError || err instanceof RootMissingError)
      return fail(err.message, 1)
    throw err
  }
}
