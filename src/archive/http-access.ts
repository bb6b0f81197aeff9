// The registry of a running server, over the distribution-spec HTTP API: what import and export
// use while a server holds the storage. Small blobs go up in one monolithic POST ?digest=; big
// ones through a session (POST, PATCH chunks with Content-Range, PUT ?digest=), so memory stays
// bounded by one chunk whatever the blob's size.
import { Readable } from 'node:stream'
import type { ReadableStream as WebReadable } from 'node:stream/web'
import type { RegistryAccess, StagedBlob, StoredManifest } from './registry-access.js'

/** Bytes per PATCH of a staged blob. */
export const CHUNK_BYTES = 8 * 1024 * 1024

const MANIFEST_TYPES = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ')

/** A request the server refused: its status and OCI error text. */
export class HttpAccessError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message)
  }
}

async function failure(res: Response, what: string): Promise<HttpAccessError> {
  let detail = ''
  try {
    const body = (await res.json()) as { errors?: Array<{ code?: string; message?: string }> }
    detail = (body.errors ?? []).map((e) => `${e.code}: ${e.message}`).join('; ')
  } catch {
    // no OCI error body
  }
  return new HttpAccessError(
    res.status,
    `${what}: HTTP ${res.status}${detail ? ` (${detail})` : ''}`,
  )
}

export class HttpAccess implements RegistryAccess {
  readonly where: string

  /** `base`: the server's URL, e.g. http://127.0.0.1:5000 */
  constructor(private readonly base: string) {
    this.where = base
  }

  private url(path: string): string {
    return new URL(path, this.base).toString()
  }

  private async send(
    path: string,
    init: RequestInit,
    what: string,
    ok: number[],
  ): Promise<Response> {
    const res = await fetch(this.url(path), init)
    if (!ok.includes(res.status)) throw await failure(res, what)
    return res
  }

  async getManifest(repo: string, reference: string): Promise<StoredManifest> {
    const res = await this.send(
      `/v2/${repo}/manifests/${reference}`,
      { headers: { Accept: MANIFEST_TYPES } },
      `manifest ${repo}:${reference}`,
      [200],
    )
    const bytes = Buffer.from(await res.arrayBuffer())
    const digest = res.headers.get('docker-content-digest') ?? ''
    return { bytes, mediaType: res.headers.get('content-type') ?? '', digest }
  }

  async hasManifest(repo: string, digest: string): Promise<boolean> {
    const res = await fetch(this.url(`/v2/${repo}/manifests/${digest}`), {
      method: 'HEAD',
      headers: { Accept: MANIFEST_TYPES },
    })
    if (res.status === 404) return false
    if (res.status !== 200) throw await failure(res, `manifest ${repo}@${digest}`)
    return true
  }

  async readBlob(repo: string, digest: string): Promise<Readable> {
    const res = await this.send(`/v2/${repo}/blobs/${digest}`, {}, `blob ${digest}`, [200])
    return Readable.fromWeb(res.body as WebReadable<Uint8Array>)
  }

  async hasBlob(repo: string, digest: string): Promise<boolean> {
    const res = await fetch(this.url(`/v2/${repo}/blobs/${digest}`), { method: 'HEAD' })
    if (res.status === 404) return false
    if (res.status !== 200) throw await failure(res, `blob ${repo}@${digest}`)
    return true
  }

  async putBlob(repo: string, digest: string, bytes: Buffer): Promise<void> {
    await this.send(
      `/v2/${repo}/blobs/uploads/?digest=${digest}`,
      { method: 'POST', body: bytes, headers: { 'Content-Type': 'application/octet-stream' } },
      `upload of ${digest}`,
      [201],
    )
  }

  async stageBlob(repo: string): Promise<StagedBlob> {
    const opened = await this.send(
      `/v2/${repo}/blobs/uploads/`,
      { method: 'POST' },
      `upload session in ${repo}`,
      [202],
    )
    let location = this.url(opened.headers.get('location') ?? '')
    let pending: Buffer[] = []
    let pendingBytes = 0
    let offset = 0
    const flush = async () => {
      if (pendingBytes === 0) return
      const body = Buffer.concat(pending)
      pending = []
      pendingBytes = 0
      const res = await this.send(
        location,
        {
          method: 'PATCH',
          body,
          headers: {
            'Content-Type': 'application/octet-stream',
            'Content-Range': `${offset}-${offset + body.length - 1}`,
          },
        },
        `upload chunk at ${offset}`,
        [202],
      )
      offset += body.length
      location = this.url(res.headers.get('location') ?? location)
    }
    return {
      async write(chunk) {
        pending.push(chunk)
        pendingBytes += chunk.length
        if (pendingBytes >= CHUNK_BYTES) await flush()
      },
      seal: flush,
      commit: async (digest) => {
        const target = new URL(location)
        target.searchParams.set('digest', digest)
        await this.send(target.toString(), { method: 'PUT' }, `upload of ${digest}`, [201])
      },
      abort: async () => {
        pending = []
        await fetch(location, { method: 'DELETE' }).catch(() => {})
      },
    }
  }

  async mountBlob(repo: string, digest: string, from: string): Promise<boolean> {
    const res = await fetch(
      this.url(`/v2/${repo}/blobs/uploads/?mount=${digest}&from=${encodeURIComponent(from)}`),
      { method: 'POST' },
    )
    if (res.status === 201) return true
    if (res.status !== 202) throw await failure(res, `mount of ${digest}`)
    // The server opened a session instead: close it, the caller uploads the bytes.
    const location = res.headers.get('location')
    if (location) await fetch(this.url(location), { method: 'DELETE' }).catch(() => {})
    return false
  }

  async putManifest(repo: string, reference: string, bytes: Buffer, mediaType: string) {
    await this.send(
      `/v2/${repo}/manifests/${reference}`,
      { method: 'PUT', body: bytes, headers: { 'Content-Type': mediaType } },
      `manifest ${repo}:${reference}`,
      [201],
    )
  }

  async deleteManifest(repo: string, digest: string): Promise<void> {
    await this.send(
      `/v2/${repo}/manifests/${digest}`,
      { method: 'DELETE' },
      `delete of ${digest}`,
      [202],
    )
  }

  async deleteBlob(repo: string, digest: string): Promise<void> {
    await this.send(
      `/v2/${repo}/blobs/${digest}`,
      { method: 'DELETE' },
      `delete of ${digest}`,
      [202],
    )
  }
}
