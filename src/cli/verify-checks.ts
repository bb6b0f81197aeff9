// What `outpost verify` checks beyond the schema, so that a file it calls valid is one `serve`
// starts with: every store's root exists and this user can write it, the files the server reads
// (TLS, htpasswd, pull-through credentials) can be read, hosted directories are there. It takes
// no lock and opens no backend: the unit's ExecReload runs it while the server holds the storage.
// Problems stop the start; warnings do not. Checks that need the network are verify-online.ts.
import { constants } from 'node:fs'
import { access, readFile, stat } from 'node:fs/promises'
import type { OutpostConfig, StoreSettings } from '../config/index.js'
import { resolveS3Settings } from '../config/s3-driver-options.js'

export interface Findings {
  problems: string[]
  warnings: string[]
}

/** Every store of the configuration with the JSON path that names it in the file. */
export function storesOf(config: OutpostConfig): Array<{ path: string; store: StoreSettings }> {
  return [
    { path: 'storage', store: config.storage },
    ...Object.entries(config.storage.subPaths ?? {}).map(([route, store]) => ({
      path: `storage.subPaths./${route}`,
      store,
    })),
  ]
}

const who = () => (process.getuid ? `user uid ${process.getuid()}` : 'this user')

/** Why this user cannot use `dir` as a storage root, or undefined when it can. */
async function rootProblem(dir: string): Promise<string | undefined> {
  const info = await stat(dir).catch((err: NodeJS.ErrnoException) => err)
  if (info instanceof Error) {
    if (info.code === 'ENOENT')
      return `${dir} does not exist; create (or mount) it first: serve never creates a configured root, so a disk that did not mount cannot become an empty registry`
    return `${dir} cannot be examined (${info.code ?? info.message})`
  }
  if (!info.isDirectory()) return `${dir} is not a directory`
  try {
    await access(dir, constants.W_OK | constants.X_OK)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    const why = code === 'EROFS' ? 'is on a read-only filesystem' : `is not writable by ${who()}`
    return `${dir} ${why}; serve needs to write there (under systemd: ReadWritePaths= in a drop-in, and ownership by the outpost user)`
  }
  return undefined
}

/** Why this user cannot read the file at `path`, or undefined when it can. */
async function fileProblem(path: string): Promise<string | undefined> {
  const info = await stat(path).catch((err: NodeJS.ErrnoException) => err)
  if (info instanceof Error) {
    return info.code === 'ENOENT'
      ? `${path} does not exist`
      : `${path} cannot be examined (${info.code ?? info.message})`
  }
  if (!info.isFile()) return `${path} is not a file`
  try {
    await access(path, constants.R_OK)
  } catch {
    return `${path} is not readable by ${who()}`
  }
  return undefined
}

async function dirReadable(path: string): Promise<string | undefined> {
  const info = await stat(path).catch(() => null)
  if (!info) return `${path} does not exist`
  if (!info.isDirectory()) return `${path} is not a directory`
  try {
    await access(path, constants.R_OK | constants.X_OK)
  } catch {
    return `${path} is not readable by ${who()}`
  }
  return undefined
}

/** The local checks: roots, files, and the warnings serve would print at startup. */
export async function localChecks(config: OutpostConfig, file: string): Promise<Findings> {
  const problems: string[] = []
  const warnings: string[] = []
  const add = (key: string, problem: string | undefined) => {
    if (problem) problems.push(`${key}: ${problem}`)
  }
  for (const { path, store } of storesOf(config)) {
    add(`${path}.rootDirectory`, await rootProblem(store.rootDirectory))
    if (store.storageDriver) {
      for (const w of resolveS3Settings(store.storageDriver).warnings) warnings.push(`${path}.${w}`)
    }
    for (const w of store.remoteCache?.warnings ?? []) warnings.push(`${path}.${w}`)
    if (store.cacheDriverIgnored) {
      warnings.push(
        `${path}.cacheDriver is ignored: remoteCache is false, so the local LMDB index is used`,
      )
    }
  }
  const tls = config.http.tls
  if (tls) {
    add('http.tls.cert', await fileProblem(tls.cert))
    add('http.tls.key', await fileProblem(tls.key))
    if (tls.cacert) add('http.tls.cacert', await fileProblem(tls.cacert))
  }
  const htpasswd = config.http.access?.htpasswdPath
  if (htpasswd) add('http.auth.htpasswd.path', await fileProblem(htpasswd))
  const credentials = config.sync?.credentialsFile
  if (credentials) {
    const problem = await fileProblem(credentials)
    add('extensions.sync.credentialsFile', problem ?? (await jsonProblem(credentials)))
  }
  for (const [i, h] of (config.hosting ?? []).entries())
    add(`hosting.${i}.path`, await dirReadable(h.path))
  for (const [name, target] of Object.entries(config.uplink?.targets ?? {})) {
    for (const w of resolveS3Settings(target).warnings)
      warnings.push(`uplink.targets.${name}.${w.replace(/^storageDriver\./, '')}`)
  }
  const mode = (await stat(file)).mode
  if (mode & 0o004 && holdsSecrets(config)) {
    warnings.push(
      `${file} holds secrets (S3 keys) and is readable by every user (mode ${(mode & 0o777).toString(8)}): chmod o-r it`,
    )
  }
  return { problems, warnings }
}

/** Not JSON: named by line only, never quoting the text (it holds passwords). */
async function jsonProblem(path: string): Promise<string | undefined> {
  try {
    JSON.parse(await readFile(path, 'utf8'))
    return undefined
  } catch {
    return `${path} is not valid JSON`
  }
}

function holdsSecrets(config: OutpostConfig): boolean {
  const drivers = [
    ...storesOf(config).map((s) => s.store.storageDriver),
    ...Object.values(config.uplink?.targets ?? {}),
  ]
  return drivers.some((d) => d?.secretkey !== undefined)
}
