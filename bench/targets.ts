// The registries under test, each a child process on 127.0.0.1 with a free port and a fresh
// temporary root: Outpost from its compiled output (`node dist/cli/main.js serve`), and Debian's
// docker-registry (CNCF distribution 2.8). Every child and directory is recorded so that an
// error, Ctrl-C or a normal exit removes them all.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { get } from 'node:http'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

/** Debian's docker-registry; BENCH_DISTRIBUTION_BIN points at another build to compare with. */
export const DISTRIBUTION_BIN = process.env.BENCH_DISTRIBUTION_BIN || '/usr/bin/docker-registry'

export interface Target {
  name: string
  /** how it was started, for the report */
  command: string
  pid: number
  url: URL
  /** milliseconds from spawn to the first HTTP 200 on GET /v2/ (polled every 10 ms) */
  readyMs: number
  /** the last 16 KiB the process printed (its error log) */
  output(): string
  /** stop the process (SIGTERM, then SIGKILL) and remove its temporary root */
  stop(): Promise<void>
}

interface Owned {
  dir: string
  child?: ChildProcess
}

const owned = new Set<Owned>()

/**
 * A fresh temporary directory, recorded in the same tick it is made (synchronously: an `await`
 * in between would let an uncaught error exit the process with the directory unrecorded).
 */
function workDir(prefix: string): Owned {
  const record: Owned = { dir: mkdtempSync(join(tmpdir(), prefix)) }
  owned.add(record)
  return record
}

/** A temporary directory of the bench's own (e.g. a generated storage root), removed on exit. */
export function scratchDir(prefix: string): { dir: string; remove(): Promise<void> } {
  const record = workDir(prefix)
  return { dir: record.dir, remove: () => discard(record) }
}

/** Last-resort cleanup for process exit and signals: synchronous, never throws. */
export function killAllSync(): void {
  for (const { child, dir } of owned) {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    try {
      // The killed server may still be writing for a moment: retry on ENOTEMPTY.
      rmSync(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 })
    } catch (err) {
      process.stderr.write(`could not remove ${dir}: ${(err as Error).message}\n`)
    }
  }
  owned.clear()
}

async function discard(record: Owned): Promise<void> {
  await rm(record.dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 })
  owned.delete(record)
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

function answersBase(url: URL): Promise<boolean> {
  return new Promise((resolve) => {
    const req = get(new URL('/v2/', url), { agent: false }, (res) => {
      res.resume()
      resolve(res.statusCode === 200)
    })
    req.once('error', () => resolve(false))
  })
}

async function launch(
  name: string,
  file: string,
  args: string[],
  record: Owned,
  port: number,
  env: NodeJS.ProcessEnv = process.env,
) {
  const began = performance.now()
  const child = spawn(file, args, { cwd: record.dir, stdio: ['ignore', 'pipe', 'pipe'], env })
  record.child = child
  let output = ''
  const keep = (data: Buffer) => (output = (output + data.toString('utf8')).slice(-16_384))
  child.stdout!.on('data', keep)
  child.stderr!.on('data', keep)
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const running = () => child.exitCode === null && child.signalCode === null
  const url = new URL(`http://127.0.0.1:${port}`)

  const deadline = Date.now() + 20_000
  while (!(await answersBase(url))) {
    if (!running() || Date.now() > deadline) {
      const why = running() ? 'did not answer GET /v2/' : `exited (${child.exitCode})`
      child.kill('SIGKILL')
      await exited
      await discard(record)
      throw new Error(`${name} ${why} within 20 s. Its output:\n${output}`)
    }
    await sleep(10)
  }
  const readyMs = performance.now() - began

  const target: Target = {
    name,
    command: [file, ...args].join(' '),
    pid: child.pid!,
    url,
    readyMs,
    output: () => output,
    async stop() {
      if (running()) {
        child.kill('SIGTERM')
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
        await exited
        clearTimeout(timer)
      }
      await discard(record)
    },
  }
  return target
}

/**
 * The Node options Outpost ships: what the launcher (bin/outpost, installed as /usr/bin/outpost)
 * passes node, so the bench measures the server as installed. BENCH_OUTPOST_NODE_OPTIONS
 * overrides (empty: none).
 */
export function shippedNodeOptions(repoRoot: string): string {
  const override = process.env.BENCH_OUTPOST_NODE_OPTIONS
  if (override !== undefined) return override
  try {
    const launcher = readFileSync(join(repoRoot, 'bin/outpost'), 'utf8')
    return /^OUTPOST_NODE_FLAGS='([^']*)'$/m.exec(launcher)?.[1] ?? ''
  } catch {
    return ''
  }
}

export interface OutpostOptions {
  /** more storage settings, e.g. a storageDriver for the S3 run */
  storage?: Record<string, unknown>
  /** serve this existing root (e.g. a generated layout) instead of a fresh empty one */
  rootDirectory?: string
  /** a command the server runs under, e.g. ['taskset', '-c', '0'] */
  wrapper?: string[]
  /** node flags before the script, added to BENCH_OUTPOST_NODE_ARGS */
  nodeArgs?: string[]
  name?: string
  /** run with the Node options the launcher applies (the comparison and footprint do) */
  shipped?: boolean
  /** NODE_OPTIONS of its own (the edge run's drop-in), instead of `shipped` */
  nodeOptions?: string
  /** more top-level config sections (scrub, extensions, log, ...), over the defaults */
  config?: Record<string, unknown>
}

/** Outpost, compiled: `node dist/cli/main.js serve <config.json>`. Run `npm run build` first. */
export async function startOutpost(
  repoRoot: string,
  storage: Record<string, unknown> = {},
  options: OutpostOptions = {},
): Promise<Target> {
  const record = workDir('outpost-bench-')
  let root = options.rootDirectory
  if (root === undefined) {
    root = join(record.dir, 'root')
    await mkdir(root)
  }
  const port = await freePort()
  const config = {
    storage: { rootDirectory: root, commit: false, ...storage, ...options.storage },
    http: { address: '127.0.0.1', port },
    log: { level: 'error' },
    ...options.config,
  }
  const configPath = join(record.dir, 'config.json')
  await writeFile(configPath, JSON.stringify(config, null, 2))
  const main = join(repoRoot, 'dist/cli/main.js')
  // e.g. BENCH_OUTPOST_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/outpost-prof" to profile it.
  const extra = (process.env.BENCH_OUTPOST_NODE_ARGS ?? '').split(' ').filter(Boolean)
  const node = [process.execPath, ...extra, ...(options.nodeArgs ?? []), main, 'serve', configPath]
  const [file, ...args] = [...(options.wrapper ?? []), ...node]
  const nodeOptions = options.nodeOptions ?? (options.shipped ? shippedNodeOptions(repoRoot) : '')
  const own = options.shipped || options.nodeOptions !== undefined
  const env = own ? { ...process.env, NODE_OPTIONS: nodeOptions } : process.env
  const target = await launch(options.name ?? 'Outpost', file, args, record, port, env)
  if (nodeOptions) target.command = `NODE_OPTIONS=${nodeOptions} ${target.command}`
  return target
}

/**
 * For the profiling helpers (profile-*.ts): Outpost with the unit's Node options and, unless
 * BENCH_OUTPOST_NODE_ARGS says otherwise, --cpu-prof writing into PROFILE_DIR.
 */
export async function startProfiled(
  repoRoot: string,
  options: OutpostOptions = {},
): Promise<{ target: Target; dir: string }> {
  const dir = process.env.PROFILE_DIR ?? '/tmp/outpost-profile'
  await mkdir(dir, { recursive: true })
  process.env.BENCH_OUTPOST_NODE_ARGS ??= `--cpu-prof --cpu-prof-dir=${dir}`
  return { target: await startOutpost(repoRoot, {}, { ...options, shipped: true }), dir }
}

/**
 * distribution 2.8 with Debian's packaged defaults that matter for speed (the in-memory blob
 * descriptor cache) and its access log off, as Outpost logs no requests at level error.
 */
export async function startDistribution(): Promise<Target> {
  const record = workDir('distribution-bench-')
  const root = join(record.dir, 'root')
  await mkdir(root)
  const port = await freePort()
  const config = [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  cache:',
    '    blobdescriptor: inmemory',
    '  filesystem:',
    `    rootdirectory: ${root}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    '',
  ].join('\n')
  const configPath = join(record.dir, 'config.yml')
  await writeFile(configPath, config)
  return launch('distribution', DISTRIBUTION_BIN, ['serve', configPath], record, port)
}

export function haveDistribution(): boolean {
  return existsSync(DISTRIBUTION_BIN)
}
