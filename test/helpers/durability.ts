// Helpers for the durability tests: an independent check of a storage root (read with node:fs,
// not through the registry), pulls over HTTP checked byte for byte, a child server under strace,
// and an ext4 image on a loop device that can be "powered off" with xfs_io's shutdown.
import { execFile, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { REPO_ROOT, sha256, tempDir, type ChildServer, type TestImage } from './harness.js'

const run = promisify(execFile)

export type Requester = (path: string, init?: RequestInit) => Promise<Response>

/** fetch() against a server's base URL, in the shape pushImage() takes. */
export function requester(url: string): Requester {
  return (path, init) => fetch(url + path, init)
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** A whole number in [min, max]. */
export function randomInt(min: number, max: number): number {
  return min + Math.floor(Math.random() * (max - min + 1))
}

// --- what a storage root holds, checked without the registry ---------------------------------

export interface LayoutReport {
  /** everything that breaks the layout invariants; empty when the root is sound */
  problems: string[]
  /** repository -> tag -> manifest digest, as index.json says */
  tags: Map<string, Map<string, string>>
  /** files under <repo>/blobs/, with their sizes */
  blobFiles: { key: string; size: number }[]
}

function hashFile(bytes: Buffer, algorithm: string): string {
  return createHash(algorithm).update(bytes).digest('hex')
}

async function readOrNull(path: string): Promise<Buffer | null> {
  return readFile(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null
    throw err
  })
}

/** Repositories under `root`: directories holding an index.json; names may contain '/'. */
async function findRepositories(root: string, prefix = ''): Promise<string[]> {
  const entries = await readdir(join(root, prefix), { withFileTypes: true })
  const repos: string[] = []
  if (prefix !== '' && entries.some((e) => e.isFile() && e.name === 'index.json'))
    repos.push(prefix)
  for (const e of entries) {
    if (!e.isDirectory() || e.name === 'blobs' || e.name.startsWith('.')) continue
    if (prefix === '' && e.name.startsWith('_')) continue
    repos.push(...(await findRepositories(root, prefix === '' ? e.name : `${prefix}/${e.name}`)))
  }
  return repos
}

/**
 * Check a root the way a crash must leave it: every index.json parses; every manifest it lists
 * is present and hashes to its digest; every config, layer and child it references is present
 * and hashes to its digest; and every file under <repo>/blobs/<alg>/ hashes to its own name, so
 * no partial file is visible as a blob.
 */
export async function checkLayout(root: string): Promise<LayoutReport> {
  const report: LayoutReport = { problems: [], tags: new Map(), blobFiles: [] }
  const { problems } = report
  for (const repo of await findRepositories(root)) {
    const blobBytes = async (digest: string, what: string): Promise<Buffer | null> => {
      const [algorithm, hex] = digest.split(':')
      const bytes = await readOrNull(join(root, repo, 'blobs', algorithm, hex))
      if (!bytes) problems.push(`${repo}: ${what} ${digest} is missing`)
      else if (hashFile(bytes, algorithm) !== hex)
        problems.push(`${repo}: ${what} ${digest} has wrong bytes`)
      else return bytes
      return null
    }
    let doc: { manifests?: { digest: string; annotations?: Record<string, string> }[] }
    try {
      doc = JSON.parse(await readFile(join(root, repo, 'index.json'), 'utf8'))
    } catch (err) {
      problems.push(`${repo}/index.json does not parse: ${err}`)
      continue
    }
    const tags = new Map<string, string>()
    report.tags.set(repo, tags)
    for (const desc of doc.manifests ?? []) {
      const tag = desc.annotations?.['org.opencontainers.image.ref.name']
      if (tag !== undefined) {
        if (tags.has(tag)) problems.push(`${repo}: tag ${tag} is listed twice in index.json`)
        tags.set(tag, desc.digest)
      }
      const bytes = await blobBytes(desc.digest, `manifest${tag ? ` (tag ${tag})` : ''}`)
      if (!bytes) continue
      const manifest = JSON.parse(bytes.toString('utf8')) as {
        config?: { digest: string }
        layers?: { digest: string }[]
        manifests?: { digest: string }[]
      }
      if (manifest.config) await blobBytes(manifest.config.digest, `config of ${desc.digest}`)
      for (const layer of manifest.layers ?? [])
        await blobBytes(layer.digest, `layer of ${desc.digest}`)
      for (const child of manifest.manifests ?? [])
        await blobBytes(child.digest, `child of ${desc.digest}`)
    }
    for (const alg of await readdir(join(root, repo, 'blobs')).catch(() => [])) {
      for (const hex of await readdir(join(root, repo, 'blobs', alg))) {
        const key = `${repo}/blobs/${alg}/${hex}`
        const bytes = await readFile(join(root, key))
        report.blobFiles.push({ key, size: bytes.length })
        if (hashFile(bytes, alg) !== hex) {
          problems.push(
            `${key} does not hash to its name (${bytes.length} bytes): a partial blob is visible`,
          )
        }
      }
    }
  }
  return report
}

// --- pulls over HTTP ---------------------------------------------------------------------------

/**
 * Pull an image by tag and by digest and each of its blobs; returns what differs from `image`
 * (empty when the registry serves it byte-identical).
 */
export async function pullProblems(
  request: Requester,
  repo: string,
  tag: string,
  image: TestImage,
): Promise<string[]> {
  const problems: string[] = []
  const accept = { Accept: image.mediaType }
  for (const ref of [tag, image.digest]) {
    const res = await request(`/v2/${repo}/manifests/${ref}`, { headers: accept })
    const body = Buffer.from(await res.arrayBuffer())
    if (res.status !== 200) problems.push(`${repo}:${ref} answered ${res.status} ${body}`)
    else if (!body.equals(image.manifest))
      problems.push(`${repo}:${ref} served different manifest bytes`)
    else if (res.headers.get('docker-content-digest') !== image.digest)
      problems.push(`${repo}:${ref} wrong digest header`)
  }
  for (const blob of [image.config, ...image.layers]) {
    const digest = sha256(blob)
    const res = await request(`/v2/${repo}/blobs/${digest}`)
    const body = Buffer.from(await res.arrayBuffer())
    if (res.status !== 200) problems.push(`${repo}@${digest} answered ${res.status}`)
    else if (!body.equals(blob)) problems.push(`${repo}@${digest} served different bytes`)
  }
  return problems
}

/**
 * Fetch `path` and check that a 200 carries bytes hashing to `digest`. Returns the status; a
 * 200 with wrong bytes is reported as a problem.
 */
export async function fetchChecked(
  request: Requester,
  path: string,
  digest: string,
  problems: string[],
): Promise<number> {
  const res = await request(path, {
    headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' },
  })
  const body = Buffer.from(await res.arrayBuffer())
  if (res.status === 200 && sha256(body) !== digest) {
    problems.push(`${path} answered 200 with ${body.length} bytes that do not match ${digest}`)
  }
  return res.status
}

// --- a child server, optionally under a wrapper such as strace ----------------------------------

/**
 * `outpost serve` in a child process behind `wrapper` (e.g. strace), like harness childServer().
 * `pid()` is the server's own process id, read from its lock file (the wrapper's child).
 */
export async function wrappedChildServer(
  root: string,
  storage: Record<string, unknown>,
  wrapper: string[],
): Promise<ChildServer & { pid(): Promise<number> }> {
  const configPath = join(await tempDir('outpost-config-'), 'config.json')
  await writeFile(
    configPath,
    JSON.stringify({
      storage: { rootDirectory: root, ...storage },
      http: { address: '127.0.0.1', port: 0 },
    }),
  )
  const argv = [
    ...wrapper,
    process.execPath,
    '--import',
    'tsx',
    join(REPO_ROOT, 'src/cli/main.ts'),
    'serve',
    configPath,
  ]
  const child = spawn(argv[0], argv.slice(1), { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout!.on('data', (d) => (out += d))
  child.stderr!.on('data', (d) => (out += d))
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  )
  void exited.then(() => rm(dirname(configPath), { recursive: true, force: true }))
  const url = await new Promise<string>((resolve, reject) => {
    const check = () => {
      const m = /"msg":"listening","url":"([^"]+)"/.exec(out)
      if (m) resolve(m[1])
    }
    child.stdout!.on('data', check)
    exited.then((code) => reject(new Error(`server exited (${code}) before listening:\n${out}`)))
  })
  const pid = async () =>
    JSON.parse(await readFile(join(root, '_outpost/lock'), 'utf8')).pid as number
  const serverPid = await pid()
  return {
    url,
    process: child,
    output: () => out,
    pid: async () => serverPid,
    async kill(signal = 'SIGKILL') {
      // Signal the server itself; the wrapper (strace) exits once its tracee is gone.
      if (child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(serverPid, signal)
        } catch {
          child.kill(signal)
        }
      }
      return exited
    },
  }
}

// --- an ext4 file system on a loop device --------------------------------------------------------

/** An ext4 image mounted on a loop device; `cut()` drops everything not yet on disk. */
export class LoopMount {
  private mounted = false

  private constructor(
    readonly image: string,
    readonly dir: string,
    private readonly options: string,
  ) {}

  /** Make and mount a fresh image; throws with mount's message when that is not possible. */
  static async create(sizeMb = 256, options = 'loop'): Promise<LoopMount> {
    const base = await tempDir('outpost-loop-')
    const image = join(base, 'ext4.img')
    const dir = join(base, 'mnt')
    await mkdir(dir)
    await run('truncate', ['-s', `${sizeMb}M`, image])
    await run('mkfs.ext4', ['-q', '-F', image])
    const mount = new LoopMount(image, dir, options)
    await mount.mount()
    return mount
  }

  async mount(): Promise<void> {
    await run('mount', ['-o', this.options, this.image, this.dir])
    this.mounted = true
  }

  async umount(): Promise<void> {
    await run('umount', [this.dir])
    this.mounted = false
  }

  /**
   * Shut the file system down without flushing its log (xfs_io's `shutdown` without -f; ext4
   * honours it): like a power cut, whatever was not fsynced is gone after the next mount.
   */
  async cut(): Promise<void> {
    await run('xfs_io', ['-x', '-c', 'shutdown', this.dir])
  }

  /** syncfs(2) of the whole file system, as an operator's `sync` would. */
  async sync(): Promise<void> {
    await run('sync', ['-f', this.dir])
  }

  /** Lazy unmount (also after a failure) and remove the image. */
  async dispose(): Promise<void> {
    if (this.mounted) await run('umount', ['-l', this.dir]).catch(() => {})
    this.mounted = false
    await rm(join(this.image, '..'), { recursive: true, force: true })
  }
}

/** Why the power-cut tests cannot run here, or false when they can. */
export async function powerCutUnavailable(haveXfsIo: boolean): Promise<string | false> {
  if (!haveXfsIo) return 'xfs_io not found (Debian package xfsprogs)'
  if (process.getuid?.() !== 0) return 'needs root to loop-mount an ext4 image'
  try {
    const probe = await LoopMount.create(16)
    await probe.dispose()
  } catch (err) {
    return `cannot loop-mount an ext4 image: ${String((err as { stderr?: string }).stderr || err).trim()}`
  }
  return false
}
