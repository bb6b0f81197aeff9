// Real images for the client tests: built offline with umoci (Debian package umoci), moved with
// skopeo (Debian package skopeo), and read back straight from an OCI Image Layout on disk.
import { execFile } from 'node:child_process'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { haveCommand, sha256 } from './harness.js'

export interface RunResult {
  stdout: string
  stderr: string
}

/** Run a command to completion without blocking the event loop (an in-process server may be
 * answering it); rejects with the command's stderr when it exits non-zero. */
export function run(command: string, args: string[], cwd?: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) {
        reject(new Error(`${command} ${args.join(' ')} failed: ${err.message}\n${stderr}`))
      } else resolve({ stdout, stderr })
    })
  })
}

/** A skip reason naming the Debian package of each missing tool, or false when all are there. */
export async function missingTools(...tools: string[]): Promise<string | false> {
  const missing: string[] = []
  for (const tool of tools) if (!(await haveCommand(tool))) missing.push(tool)
  if (missing.length === 0) return false
  return `needs ${missing.join(' and ')} (install the Debian package${missing.length > 1 ? 's' : ''} ${missing.join(', ')})`
}

/** `skopeo copy` with a policy that accepts anything, so no host policy.json is needed. */
export function skopeoCopy(from: string, to: string, ...flags: string[]): Promise<RunResult> {
  return run('skopeo', ['--insecure-policy', 'copy', '--quiet', ...flags, from, to])
}

export type LayerFiles = Record<string, string | Buffer>

/**
 * Build `<layout>:<tag>` with umoci: one layer per entry of `layers`, each adding its files to
 * the root filesystem. The layout is created when missing.
 */
export async function buildImage(
  layout: string,
  tag: string,
  layers: LayerFiles[],
  workDir: string,
): Promise<void> {
  const bundle = join(workDir, `bundle-${tag}`)
  if ((await readFile(join(layout, 'oci-layout')).catch(() => null)) === null) {
    await run('umoci', ['init', '--layout', layout])
  }
  await run('umoci', ['new', '--image', `${layout}:${tag}`])
  for (const files of layers) {
    await run('umoci', ['unpack', '--rootless', '--image', `${layout}:${tag}`, bundle])
    for (const [path, content] of Object.entries(files)) {
      const target = join(bundle, 'rootfs', path)
      await mkdir(join(target, '..'), { recursive: true })
      await writeFile(target, content)
    }
    await run('umoci', ['repack', '--image', `${layout}:${tag}`, bundle])
    await run('rm', ['-rf', bundle])
  }
}

export interface Descriptor {
  mediaType: string
  digest: string
  size: number
  platform?: { architecture: string; os: string }
  annotations?: Record<string, string>
}

export interface ImageManifest {
  mediaType?: string
  config: Descriptor
  layers: Descriptor[]
}

/** Read-only view of an OCI Image Layout on disk. */
export class Layout {
  constructor(readonly dir: string) {}

  async indexBytes(): Promise<Buffer> {
    return readFile(join(this.dir, 'index.json'))
  }

  async index(): Promise<{ manifests: Descriptor[] }> {
    return JSON.parse((await this.indexBytes()).toString('utf8'))
  }

  async tags(): Promise<string[]> {
    const index = await this.index()
    return index.manifests
      .map((d) => d.annotations?.['org.opencontainers.image.ref.name'])
      .filter((t): t is string => t !== undefined)
      .sort()
  }

  /** The descriptor index.json holds for `tag`. */
  async descriptor(tag: string): Promise<Descriptor> {
    const index = await this.index()
    const found = index.manifests.find(
      (d) => d.annotations?.['org.opencontainers.image.ref.name'] === tag,
    )
    if (!found) throw new Error(`${this.dir} has no tag ${tag}`)
    return found
  }

  /** A blob's bytes, checked against its digest so a test never compares corrupt content. */
  async blob(digest: string): Promise<Buffer> {
    const [algorithm, hex] = digest.split(':')
    const bytes = await readFile(join(this.dir, 'blobs', algorithm, hex))
    if (sha256(bytes) !== digest) throw new Error(`${this.dir}: blob ${digest} does not match`)
    return bytes
  }

  async manifest(tag: string): Promise<{ digest: string; bytes: Buffer; parsed: ImageManifest }> {
    const { digest } = await this.descriptor(tag)
    const bytes = await this.blob(digest)
    return { digest, bytes, parsed: JSON.parse(bytes.toString('utf8')) }
  }
}

/**
 * Add a multi-platform image index under `tag` to a layout, referencing for each architecture the
 * image tagged `platforms[architecture]` (umoci builds single-platform images only). Returns the
 * index bytes.
 */
export async function addImageIndex(
  layoutDir: string,
  tag: string,
  platforms: Record<string, string>,
): Promise<Buffer> {
  const layout = new Layout(layoutDir)
  const manifests: Descriptor[] = []
  for (const [architecture, imageTag] of Object.entries(platforms)) {
    const d = await layout.descriptor(imageTag)
    manifests.push({
      mediaType: d.mediaType,
      digest: d.digest,
      size: d.size,
      platform: { architecture, os: 'linux' },
    })
  }
  const mediaType = 'application/vnd.oci.image.index.v1+json'
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType, manifests }))
  const digest = sha256(bytes)
  await writeFile(join(layoutDir, 'blobs', 'sha256', digest.slice('sha256:'.length)), bytes)
  const index = await layout.index()
  index.manifests.push({
    mediaType,
    digest,
    size: bytes.length,
    annotations: { 'org.opencontainers.image.ref.name': tag },
  })
  await writeFile(join(layoutDir, 'index.json'), JSON.stringify(index))
  return bytes
}
