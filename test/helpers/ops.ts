// Operations test helpers: self-signed certificates (openssl), OCI layouts for skopeo, a
// Prometheus text parser, and `outpost serve` in a child process with a config file the test can
// rewrite and an environment of its own (SIGHUP, $NOTIFY_SOCKET, $JOURNAL_STREAM).
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { REPO_ROOT, sha256, type TestImage } from './harness.js'
import { run } from './images.js'

export interface CertFiles {
  cert: string
  key: string
  /** the certificate's PEM */
  pem: string
}

/** A self-signed certificate for 127.0.0.1 (and a CA when `ca` signs it instead). */
export async function makeCert(
  dir: string,
  name: string,
  ca?: { cert: string; key: string },
): Promise<CertFiles> {
  await mkdir(dir, { recursive: true })
  const cert = join(dir, `${name}.crt`)
  const key = join(dir, `${name}.key`)
  const subject = ['-subj', `/CN=${name}`, '-addext', 'subjectAltName=IP:127.0.0.1']
  if (!ca) {
    await run('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2',
      '-keyout', key, '-out', cert, ...subject,
      '-addext', 'basicConstraints=critical,CA:TRUE',
    ]) // prettier-ignore
  } else {
    const csr = join(dir, `${name}.csr`)
    await run('openssl', ['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', csr, '-subj', `/CN=${name}`]) // prettier-ignore
    await run('openssl', ['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-days', '2', '-out', cert]) // prettier-ignore
  }
  return { cert, key, pem: await readFile(cert, 'utf8') }
}

/** An OCI image layout holding `image` under `tag`, for `skopeo copy oci:<dir>:<tag>`. */
export async function writeImageLayout(dir: string, image: TestImage, tag: string): Promise<void> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true })
  for (const b of [image.config, ...image.layers, image.manifest]) {
    await writeFile(join(dir, 'blobs', 'sha256', sha256(b).slice(7)), b)
  }
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }))
  const manifest = {
    mediaType: image.mediaType,
    digest: image.digest,
    size: image.manifest.length,
    annotations: { 'org.opencontainers.image.ref.name': tag },
  }
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({ schemaVersion: 2, manifests: [manifest] }),
  )
}

/** Prometheus text exposition -> `name{labels}` -> value (labels as printed). */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue
    const at = line.lastIndexOf(' ')
    out.set(line.slice(0, at), Number(line.slice(at + 1)))
  }
  return out
}

/** A sample's value, 0 when absent. */
export function sample(metrics: Map<string, number>, key: string): number {
  return metrics.get(key) ?? 0
}

export interface ServeProcess {
  url: string
  process: ChildProcess
  output(): string
  /** resolves once the output matches `pattern` (after `from` characters) */
  waitFor(pattern: RegExp, from?: number, timeoutMs?: number): Promise<RegExpExecArray>
  exited: Promise<number | null>
  kill(signal?: NodeJS.Signals): Promise<number | null>
}

/** `outpost serve <configFile>` with extra environment; resolves once it is listening. */
export async function serveProcess(
  configFile: string,
  env: Record<string, string | undefined> = {},
): Promise<ServeProcess> {
  const childEnv = { ...process.env, ...env }
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete childEnv[k]
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(REPO_ROOT, 'src/cli/main.ts'), 'serve', configFile],
    { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: childEnv },
  )
  let out = ''
  const waiters = new Set<() => void>()
  const onData = (d: Buffer) => {
    out += d
    for (const w of waiters) w()
  }
  child.stdout!.on('data', onData)
  child.stderr!.on('data', onData)
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  )
  const waitFor = (pattern: RegExp, from = 0, timeoutMs = 20_000) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const check = () => {
        const m = pattern.exec(out.slice(from))
        if (m) {
          waiters.delete(check)
          clearTimeout(timer)
          resolve(m)
        }
      }
      const timer = setTimeout(() => {
        waiters.delete(check)
        reject(new Error(`timed out waiting for ${pattern}:\n${out}`))
      }, timeoutMs)
      waiters.add(check)
      exited.then(() =>
        setTimeout(() => {
          waiters.delete(check)
          clearTimeout(timer)
          reject(new Error(`server exited before ${pattern}:\n${out}`))
        }, 100),
      )
      check()
    })
  const url = (await waitFor(/"msg":"listening","url":"([^"]+)"/))[1]
  return {
    url,
    process: child,
    output: () => out,
    waitFor,
    exited,
    async kill(signal = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      return exited
    },
  }
}
