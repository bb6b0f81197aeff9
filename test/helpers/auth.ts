// Helpers for the access tests: htpasswd files as `htpasswd -B` writes them, servers whose http
// section is parsed by the real config loader, Basic headers, OCI layouts for skopeo to push,
// and skopeo runs that report success or failure instead of throwing.
import { execFile } from 'node:child_process'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { hashSync } from 'bcryptjs'
import { parseConfig } from '../../src/config/index.js'
import type { RunningServer } from '../../src/server/server.js'
import { sha256, socketServer, testConfig, type TestImage } from './harness.js'

/**
 * Write an htpasswd file. Hashes are bcrypt at cost 4 (fast tests) with the prefix given per user
 * ('2y' as `htpasswd -B` writes, by default; '2a' and '2b' as other tools do).
 */
export async function writeHtpasswd(
  path: string,
  users: Record<string, string>,
  prefixes: Record<string, '2a' | '2b' | '2y'> = {},
): Promise<string> {
  const lines = Object.entries(users).map(([user, password]) => {
    const hash = hashSync(password, 4).replace(/^\$2b\$/, `$${prefixes[user] ?? '2y'}$`)
    return `${user}:${hash}`
  })
  await writeFile(path, lines.join('\n') + '\n')
  return path
}

/** The resolved http section for a raw (zot-shaped) one, through the real schema and loader. */
export function httpSettings(root: string, http: Record<string, unknown>) {
  const config = parseConfig(JSON.stringify({ storage: { rootDirectory: root }, http }))
  return { ...testConfig(root).http, access: config.http.access }
}

/** A real server on 127.0.0.1 whose http section (auth, accessControl, realm) is `http`. */
export async function authServer(
  root: string,
  http: Record<string, unknown>,
): Promise<RunningServer & { root: string }> {
  return socketServer(root, {}, { http: httpSettings(root, http) })
}

export function basic(user: string, password: string): Record<string, string> {
  return { Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` }
}

/** An OCI image layout directory holding `image` under `tag`, for `skopeo copy oci:<dir>:<tag>`. */
export async function writeLayout(dir: string, image: TestImage, tag: string): Promise<void> {
  await mkdir(join(dir, 'blobs/sha256'), { recursive: true })
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }))
  for (const blob of [image.config, ...image.layers, image.manifest]) {
    await writeFile(join(dir, 'blobs/sha256', sha256(blob).slice(7)), blob)
  }
  const index = {
    schemaVersion: 2,
    manifests: [
      {
        mediaType: image.mediaType,
        digest: image.digest,
        size: image.manifest.length,
        annotations: { 'org.opencontainers.image.ref.name': tag },
      },
    ],
  }
  await writeFile(join(dir, 'index.json'), JSON.stringify(index))
}

export interface SkopeoResult {
  ok: boolean
  output: string
}

/**
 * `skopeo copy` with an empty auth file (no stored credentials leak in), a policy that accepts
 * anything and plain HTTP; resolves with the outcome rather than throwing.
 */
export function skopeo(authFile: string, ...args: string[]): Promise<SkopeoResult> {
  const argv = ['--insecure-policy', 'copy', '--quiet', '--authfile', authFile, ...args]
  return new Promise((resolve) => {
    execFile('skopeo', argv, { maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      resolve({ ok: !err, output: `${stdout}${stderr}` })
    })
  })
}
