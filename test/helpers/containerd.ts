// A private containerd for the edge tests (Debian package containerd): started as a child process
// with its own root, state directory and socket under a test directory and a minimal config (no
// CRI plugin, no optional snapshotters, no /opt plugin), so it never touches the system's
// /run/containerd or /var/lib/containerd. `ctr` talks to it with --address; registry hosts come
// from a --hosts-dir written the way /etc/containerd/certs.d is (containerd docs/hosts.md).
import { spawn } from 'node:child_process'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { run, type RunResult } from './images.js'

export interface Containerd {
  address: string
  /** `ctr --address <sock> ...args` in the default namespace */
  ctr(...args: string[]): Promise<RunResult>
  /** kill it, unmount whatever it left mounted under its directory, remove the directory */
  stop(): Promise<void>
}

const STARTS_WITHIN_TRIES = 400 // x 25 ms

export async function startContainerd(dir: string): Promise<Containerd> {
  await mkdir(dir, { recursive: true })
  const address = join(dir, 'containerd.sock')
  const config = [
    'version = 2',
    `root = ${JSON.stringify(join(dir, 'root'))}`,
    `state = ${JSON.stringify(join(dir, 'state'))}`,
    // Image pulls need content, metadata, a snapshotter and the differ; nothing else loads.
    'disabled_plugins = [',
    '  "io.containerd.grpc.v1.cri", "io.containerd.internal.v1.opt",',
    '  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs",',
    '  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.aufs",',
    '  "io.containerd.tracing.processor.v1.otlp",',
    ']',
    '[grpc]',
    `  address = ${JSON.stringify(address)}`,
    '[ttrpc]',
    `  address = ${JSON.stringify(`${address}.ttrpc`)}`,
    '[debug]',
    `  address = ${JSON.stringify(join(dir, 'debug.sock'))}`,
    '',
  ].join('\n')
  const configPath = join(dir, 'config.toml')
  await writeFile(configPath, config)
  const child = spawn('containerd', ['--config', configPath], {
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let log = ''
  child.stderr!.on('data', (d) => (log = (log + d).slice(-20_000)))
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const ctr = (...args: string[]) => run('ctr', ['--address', address, ...args])
  for (let i = 0; ; i++) {
    if (child.exitCode !== null || i > STARTS_WITHIN_TRIES)
      throw new Error(`containerd did not start:\n${log}`)
    if (/containerd successfully booted/.test(log)) break
    await new Promise((r) => setTimeout(r, 25))
  }
  await ctr('version')
  return {
    address,
    ctr,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      await exited
      await unmountUnder(dir)
      await rm(dir, { recursive: true, force: true })
    },
  }
}

/** Unmount (deepest first) every mount point under `dir` that a pull's unpack left behind. */
async function unmountUnder(dir: string): Promise<void> {
  const info = await readFile('/proc/self/mountinfo', 'utf8')
  // mountinfo field 5 is the mount point, with spaces and the like octal-escaped (proc(5)).
  const points = info
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((p): p is string => !!p)
    .map((p) => p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((p) => p === dir || p.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length)
  for (const p of points) await run('umount', ['-l', p])
}

/**
 * `<hostsDir>/<namespace>/hosts.toml` sending pulls of `<namespace>/...` to `mirror` (trusted to
 * resolve tags: a private mirror, docs/hosts.md "capabilities field"), with `server` as the
 * fallback containerd tries after it.
 */
export async function writeHostsToml(
  hostsDir: string,
  namespace: string,
  mirror: string,
  server: string,
): Promise<string> {
  const dir = join(hostsDir, namespace)
  await mkdir(dir, { recursive: true })
  const file = join(dir, 'hosts.toml')
  await writeFile(
    file,
    [
      `server = ${JSON.stringify(server)}`,
      '',
      `[host.${JSON.stringify(mirror)}]`,
      '  capabilities = ["pull", "resolve"]',
      '',
    ].join('\n'),
  )
  return file
}

/** The OCI platform architecture of this machine (Node's names differ: x64, arm). */
export function hostArchitecture(): string {
  return (
    { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386' }[process.arch as string] ??
    process.arch
  )
}

/** An architecture other than this machine's, for the platform a site does not run. */
export function foreignArchitecture(): string {
  return hostArchitecture() === 'arm64' ? 'amd64' : 'arm64'
}
