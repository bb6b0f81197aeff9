// Test harness: a registry on a temporary root, driven in memory through app.request() or over a
// real socket; a server in a child process for crash tests; and small OCI images made in memory.
import { spawn, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { after } from 'node:test'
import { fileURLToPath } from 'node:url'
import { resolveScrub, resolveStorageSettings, type OutpostConfig } from '../../src/config/index.js'
import type { StorageDriver } from '../../src/storage/index.js'
import { createApp } from '../../src/http/index.js'
import { silentLogger } from '../../src/log/logger.js'
import { RegistryRouter } from '../../src/registry/index.js'
import { ownStorage, type OwnedStorage } from '../../src/server/storage-owner.js'
import type { Clock } from '../../src/util/clock.js'
import type { FreeSpaceSetting } from '../../src/registry/space-guard.js'
import { startServer, type RunningServer } from '../../src/server/server.js'
import { backendFor } from './backend.js'

export type { RunningServer }

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** Every temporary directory a test file made: removed when the file's tests are over. */
const madeDirs: string[] = []
after(async () => {
  for (const dir of madeDirs.splice(0)) await rm(dir, { recursive: true, force: true })
})

export async function tempDir(prefix = 'outpost-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  madeDirs.push(dir)
  return dir
}

export interface InMemoryRegistry {
  root: string
  /** the default store's storage */
  storage: OwnedStorage
  /**
   * every store, the default one first: one, or on the subpaths backend three (the default
   * store and two subpaths, test/helpers/backend.ts)
   */
  stores: Array<{ route?: string; root: string; storage: OwnedStorage }>
  /** where blobs, manifests and index.json live (on S3 or in memory on those backends) */
  driver: StorageDriver
  /** where upload sessions stage, when not on `driver` */
  staging?: StorageDriver
  app: ReturnType<typeof createApp>
  /** app.request with paths relative to the registry */
  request(path: string, init?: RequestInit): Promise<Response>
  close(): Promise<void>
}

/** A registry on a fresh temporary root, driven through app.request() (no socket). */
export async function inMemoryRegistry(
  options: {
    root?: string
    commit?: boolean
    /** passed to ownStorage (which defaults it to true) */
    dedupe?: boolean
    clock?: Clock
    minFreeSpace?: FreeSpaceSetting
    /** the storage's log (quiet by default) */
    log?: (msg: string, fields?: Record<string, unknown>) => void
    /**
     * the blobs' backend: by default the process's test backend (test/helpers/backend.ts): an
     * fs driver on `root`, an S3 driver on the process's s3rver with uploads staged under
     * `root`, or a memory driver kept for `root`
     */
    driver?: StorageDriver
    /** where uploads stage, when not on the blobs' backend */
    staging?: StorageDriver
  } = {},
): Promise<InMemoryRegistry> {
  const root = options.root ?? (await tempDir())
  const commit = options.commit ?? false
  const backend = options.driver ? undefined : await backendFor(root, commit)
  const driver = options.driver ?? backend!.driver
  const staging = options.driver ? options.staging : (options.staging ?? backend!.staging)
  // Given drivers make one store; otherwise the backend's stores (several with subpaths).
  const specs = backend?.stores ?? [{ route: undefined, root, driver, staging }]
  if (options.staging && backend) specs[0] = { ...specs[0], staging: options.staging }
  const stores: InMemoryRegistry['stores'] = []
  try {
    for (const spec of specs) {
      const storage = await ownStorage({
        driver: spec.driver,
        staging: spec.staging,
        localRoot: spec.root,
        commit,
        log: options.log ?? (() => {}),
        holder: 'test',
        dedupe: options.dedupe,
        clock: options.clock,
        minFreeSpace: options.minFreeSpace,
      })
      stores.push({ route: spec.route, root: spec.root, storage })
    }
  } catch (err) {
    for (const s of stores) await s.storage.close()
    backend?.close()
    throw err
  }
  const storage = stores[0].storage
  const router = new RegistryRouter(
    storage.registry,
    Object.fromEntries(stores.slice(1).map((s) => [s.route!, s.storage.registry])),
  )
  const app = createApp({ registry: router, logger: silentLogger })
  return {
    root,
    storage,
    stores,
    driver,
    staging,
    app,
    request: (path, init) => Promise.resolve(app.request(path, init)),
    async close() {
      for (const s of stores) await s.storage.close()
      backend?.close()
    },
  }
}

export function testConfig(
  root: string,
  overrides: Partial<OutpostConfig['storage']> = {},
): OutpostConfig {
  return {
    storage: {
      rootDirectory: root,
      commit: false,
      createRoot: false,
      uploadExpiryMs: 86_400_000,
      ...resolveStorageSettings({ rootDirectory: root }),
      ...overrides,
    },
    http: { address: '127.0.0.1', port: 0, shutdownTimeoutMs: 2000 },
    log: { level: 'error' },
    // Tests run flat out: the test process's own load must not pause the server's upkeep.
    maintenance: { cpuPercent: 100, minFreeMemory: 0, ioRate: Infinity },
    scrub: resolveScrub(undefined),
  }
}

/**
 * A real server on 127.0.0.1 with an OS-picked port, in this process. `overrides` change the
 * storage section; `config` replaces top-level sections (e.g. `scrub`).
 */
export async function socketServer(
  root?: string,
  overrides: Partial<OutpostConfig['storage']> = {},
  config: Partial<Omit<OutpostConfig, 'storage'>> = {},
): Promise<RunningServer & { root: string }> {
  const dir = root ?? (await tempDir())
  const server = await startServer({ ...testConfig(dir, overrides), ...config }, silentLogger)
  return Object.assign(server, { root: dir })
}

export interface ChildServer {
  url: string
  process: ChildProcess
  /** everything the child printed */
  output(): string
  kill(signal?: NodeJS.Signals): Promise<number | null>
}

/**
 * `outpost serve <config>` in a child process (through tsx), for crash and signal tests.
 * Resolves once it logs "listening".
 */
export async function childServer(
  root: string,
  storage: Record<string, unknown> = {},
  /** other top-level sections of the config file (e.g. `maintenance`) */
  sections: Record<string, unknown> = {},
): Promise<ChildServer> {
  const configDir = await tempDir('outpost-config-')
  const configPath = join(configDir, 'config.json')
  await writeFile(
    configPath,
    JSON.stringify({
      storage: { rootDirectory: root, ...storage },
      http: { address: '127.0.0.1', port: 0 },
      ...sections,
    }),
  )
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(REPO_ROOT, 'src/cli/main.ts'), 'serve', configPath],
    {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  let out = ''
  child.stdout!.on('data', (d) => (out += d))
  child.stderr!.on('data', (d) => (out += d))
  // The config file goes with the process (the server reads it again only on SIGHUP).
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => void removeDir(configDir).then(() => resolve(code))),
  )
  const url = await new Promise<string>((resolve, reject) => {
    const check = () => {
      const m = /"msg":"listening","url":"([^"]+)"/.exec(out)
      if (m) resolve(m[1])
    }
    child.stdout!.on('data', check)
    exited.then((code) => reject(new Error(`server exited (${code}) before listening:\n${out}`)))
  })
  return {
    url,
    process: child,
    output: () => out,
    async kill(signal = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      return exited
    },
  }
}

// --- OCI content ----------------------------------------------------------------------------

export function sha256(bytes: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`
}

export interface TestImage {
  config: Buffer
  layers: Buffer[]
  manifest: Buffer
  digest: string
  mediaType: string
}

/** A small OCI image: one config, `layerCount` random layers, and its manifest. */
export function makeImage(
  seed: string,
  layerCount = 1,
  extra: Record<string, unknown> = {},
): TestImage {
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', seed }))
  const layers = Array.from({ length: layerCount }, (_, i) =>
    Buffer.from(
      `layer ${i} of ${seed} ${createHash('sha256')
        .update(seed + i)
        .digest('hex')}`,
    ),
  )
  return imageOf(config, layers, extra)
}

/** An OCI image manifest over the given config and layers. */
export function imageOf(
  config: Buffer,
  layers: Buffer[],
  extra: Record<string, unknown> = {},
): TestImage {
  const mediaType = 'application/vnd.oci.image.manifest.v1+json'
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType,
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: sha256(config),
        size: config.length,
      },
      layers: layers.map((l) => ({
        mediaType: 'application/vnd.oci.image.layer.v1.tar',
        digest: sha256(l),
        size: l.length,
      })),
      ...extra,
    }),
  )
  return { config, layers, manifest, digest: sha256(manifest), mediaType }
}

/**
 * Temporary directories for one test file, removed after it: `const dir = scratchDirs()`, then
 * `await dir()` wherever a fresh one is needed.
 */
export function scratchDirs(): (prefix?: string) => Promise<string> {
  const dirs: string[] = []
  after(async () => {
    for (const d of dirs) await removeDir(d)
  })
  return async (prefix?: string) => {
    const d = await tempDir(prefix)
    dirs.push(d)
    return d
  }
}

type Requester = (path: string, init?: RequestInit) => Promise<Response>

/** Push an image's blobs (monolithic POST) and its manifest under `tag`. */
export async function pushImage(
  request: Requester,
  repo: string,
  image: TestImage,
  tag: string,
): Promise<Response> {
  for (const blob of [image.config, ...image.layers]) {
    const res = await request(`/v2/${repo}/blobs/uploads/?digest=${sha256(blob)}`, {
      method: 'POST',
      body: blob,
    })
    if (res.status !== 201) throw new Error(`blob push failed: ${res.status} ${await res.text()}`)
  }
  return request(`/v2/${repo}/manifests/${tag}`, {
    method: 'PUT',
    headers: { 'Content-Type': image.mediaType },
    body: image.manifest,
  })
}

/** Every file under `root` (relative paths), for "nothing left behind" checks. */
export async function listFiles(root: string): Promise<string[]> {
  // The server may prune an emptied directory while the walk is inside it: walk again.
  let entries
  for (let attempt = 0; ; attempt++) {
    try {
      entries = await readdir(root, { recursive: true, withFileTypes: true })
      break
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 5) throw err
    }
  }
  return entries
    .filter((e) => e.isFile())
    .map((e) =>
      relative(root, join(e.parentPath ?? (e as unknown as { path: string }).path, e.name)),
    )
    .sort()
}

/** Files under the root that are not engine state (_outpost/). */
export async function layoutFiles(root: string): Promise<string[]> {
  return (await listFiles(root)).filter((f) => !f.startsWith('_outpost/'))
}

/**
 * Every key the registry's backends hold outside engine state (_outpost/), read through the
 * drivers: the blobs' driver and, when uploads stage elsewhere, the staging driver. The same
 * list as layoutFiles(root) on the filesystem, and still meaningful when blobs are on S3.
 */
export async function storedKeys(reg: {
  driver: StorageDriver
  staging?: StorageDriver
}): Promise<string[]> {
  const keys = new Set<string>()
  const walk = async (driver: StorageDriver, prefix: string): Promise<void> => {
    for await (const entry of driver.list(prefix)) {
      const key = prefix === '' ? entry.name : `${prefix}/${entry.name}`
      if (key === '_outpost') continue
      if (entry.isPrefix) await walk(driver, key)
      else keys.add(key)
    }
  }
  await walk(reg.driver, '')
  if (reg.staging && reg.staging !== reg.driver) await walk(reg.staging, '')
  return [...keys].sort()
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true })
}

/** Whether a command exists on PATH; tests that need a Debian tool skip without it. */
export async function haveCommand(command: string): Promise<boolean> {
  return new Promise((resolve) => {
    const p = spawn('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' })
    p.on('exit', (code) => resolve(code === 0))
  })
}
