// `outpost import <file|dir> [--repo NAME[:TAG]] [--config FILE]`: an oci-archive, a
// docker-archive (plain or gzip) or an OCI layout directory into the registry. With no server
// running it works on the storage directly, owning it (every store, as gc and scrub do); while
// a server holds the storage it pushes through that server's HTTP API (http.address, http.port
// of the same configuration). Also what export uses to reach the registry.
import { mkdir, stat } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import {
  ArchiveError,
  directorySource,
  HttpAccessError,
  HttpAccess,
  importArchive,
  LocalAccess,
  parseImageName,
  tarSource,
  type ImportedImage,
  type RegistryAccess,
  type Target,
} from '../archive/index.js'
import { ConfigError, defaultConfig, loadConfig, type OutpostConfig } from '../config/index.js'
import { RegistryError } from '../registry/index.js'
import { StorageBusyError } from '../server/storage-owner.js'
import { RootMissingError } from '../server/store.js'
import { openStores } from '../server/stores.js'
import { IMPORT_HELP } from './help.js'
import { UsageError } from './offline.js'
import { createProgress, type ProgressOutput } from './progress.js'

export interface CommandIo {
  /** results, one line each */
  out: (line: string) => void
  /** progress (a TTY bar or JSON lines) */
  progress: ProgressOutput
}

/** `--config FILE`, or what `outpost serve` uses without one (127.0.0.1:5000, ./data). */
export async function configFrom(file: string | undefined): Promise<OutpostConfig> {
  return file ? loadConfig(file) : defaultConfig()
}

/** The URL of the server a configuration describes (a wildcard address means this host). */
export function serverUrl(config: OutpostConfig): string {
  const { address, port } = config.http
  if (port === 0) {
    throw new UsageError(
      'a server holds the storage, but its configuration has http.port 0 (picked by the OS): ' +
        'give --config the file with the port it listens on',
    )
  }
  const host =
    address === '0.0.0.0'
      ? '127.0.0.1'
      : address === '::'
        ? '[::1]'
        : address.includes(':')
          ? `[${address}]`
          : address
  return `http://${host}:${port}`
}

/**
 * Run `task` against the storage directly (owning every store) or, while a server holds it,
 * through that server. `task` may be called at most once.
 */
export async function withAccess<T>(
  config: OutpostConfig,
  holder: string,
  task: (access: RegistryAccess) => Promise<T>,
): Promise<T> {
  let opened
  try {
    if (config.storage.createRoot) await mkdir(config.storage.rootDirectory, { recursive: true })
    opened = await openStores(config, { holder, log: () => {} })
  } catch (err) {
    if (!(err instanceof StorageBusyError)) throw err
    return task(new HttpAccess(serverUrl(config)))
  }
  try {
    return await task(new LocalAccess(opened.router))
  } finally {
    await opened.close()
  }
}

/** `NAME[:TAG]` of --repo; a digest makes no sense here. */
export function parseRepoOption(text: string): Target {
  const target = parseImageName(text)
  if (target.digest) throw new UsageError('--repo takes NAME or NAME:TAG, not a digest')
  return {
    repo: text.slice(0, text.length - (target.tag ? target.tag.length + 1 : 0)),
    tag: target.tag,
  }
}

export async function runImportCommand(args: string[], io: CommandIo): Promise<ImportedImage[]> {
  let parsed
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: { repo: { type: 'string' }, config: { type: 'string' } },
    })
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  const { positionals, values } = parsed
  if (positionals.length !== 1) throw new UsageError('import takes exactly one file or directory')
  const path = positionals[0]
  const target = values.repo ? parseRepoOption(values.repo) : undefined
  const info = await stat(path).catch(() => {
    throw new UsageError(`${path}: no such file or directory`)
  })
  const source = info.isDirectory() ? await directorySource(path) : await tarSource(path)
  const config = await configFrom(values.config)
  const progress = createProgress(io.progress)
  return withAccess(config, 'import', async (access) => {
    try {
      const images = await importArchive(source, {
        access,
        target,
        onProgress: (p) =>
          progress.update(p.phase, p.done, p.total, p.phase === 'commit' ? 'items' : 'bytes'),
      })
      progress.end()
      for (const image of images) {
        const names = image.tags.length ? image.tags.map((t) => `${image.repo}:${t}`) : [image.repo]
        io.out(`imported ${names.join(', ')} ${image.digest} (into ${access.where})`)
      }
      return images
    } catch (err) {
      progress.end()
      throw err
    }
  })
}

/** The message and exit status for what import and export may throw; undefined: a bug. */
export function archiveFailure(err: unknown, help: string): [string, number] | undefined {
  if (err instanceof UsageError) return [`${err.message}\n\n${help}`, 2]
  if (err instanceof ConfigError) return [`invalid configuration ${err.message}`, 2]
  if (
    err instanceof ArchiveError ||
    err instanceof RegistryError ||
    err instanceof HttpAccessError ||
    err instanceof RootMissingError
  )
    return [err.message, 1]
  const code = (err as NodeJS.ErrnoException)?.code
  if (code === 'ECONNREFUSED')
    return [`cannot reach the server holding the storage: ${(err as Error).message}`, 1]
  if (code === 'ENOENT' || code === 'EACCES' || code === 'EEXIST')
    return [(err as Error).message, 1]
  return undefined
}

/** `outpost import` and `outpost export` as the CLI runs them: help, output, exit status. */
export async function cliCommand(
  run: (args: string[], io: CommandIo) => Promise<unknown>,
  help: string,
  args: string[],
): Promise<void> {
  if (args.includes('--help') || args.includes('-h')) return void process.stdout.write(help)
  try {
    await run(args, { out: (line) => process.stdout.write(`${line}\n`), progress: process.stderr })
  } catch (err) {
    const failure = archiveFailure(err, help) ?? archiveFailure((err as Error)?.cause, help)
    if (!failure) throw err
    process.stderr.write(`outpost: ${failure[0]}\n`)
    process.exitCode = failure[1]
  }
}

export const importCommand = (args: string[]) => cliCommand(runImportCommand, IMPORT_HELP, args)
