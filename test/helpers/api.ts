// Helpers for the API tests: the spec's error-body check, blob and manifest pushes in one call,
// and small OCI documents (image manifests in either media type, indexes, artifacts).
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { readdir } from 'node:fs/promises'
import { request as httpRequest } from 'node:http'
import { strayBucketKeys } from './backend.js'
import { layoutFiles, sha256, storedKeys, type InMemoryRegistry } from './harness.js'

type Requester = (path: string, init?: RequestInit) => Promise<Response>

/** distribution-spec "Error Codes": a 4xx JSON body's code MUST be one of these. */
export const SPEC_ERROR_CODES: ReadonlySet<string> = new Set([
  'BLOB_UNKNOWN',
  'BLOB_UPLOAD_INVALID',
  'BLOB_UPLOAD_UNKNOWN',
  'DIGEST_INVALID',
  'MANIFEST_BLOB_UNKNOWN',
  'MANIFEST_INVALID',
  'MANIFEST_UNKNOWN',
  'NAME_INVALID',
  'NAME_UNKNOWN',
  'SIZE_INVALID',
  'UNAUTHORIZED',
  'DENIED',
  'UNSUPPORTED',
  'TOOMANYREQUESTS',
])

export const MT = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const

export interface Desc {
  mediaType: string
  digest: string
  size: number
  [extra: string]: unknown
}

export function sha512(bytes: Uint8Array | string): string {
  return `sha512:${createHash('sha512').update(bytes).digest('hex')}`
}

export function descOf(mediaType: string, bytes: Buffer): Desc {
  return { mediaType, digest: sha256(bytes), size: bytes.length }
}

export async function bodyBytes(res: Response): Promise<Buffer> {
  return Buffer.from(await res.arrayBuffer())
}

/**
 * Assert an error response: its status, and a body of the spec's shape
 * {"errors":[{"code","message",...}]} whose first code is `code`. HEAD answers carry no body.
 */
export async function expectError(
  res: Response,
  status: number,
  code: string,
  method = 'GET',
): Promise<{ code: string; message: string; detail?: unknown }> {
  const text = await res.text()
  assert.equal(res.status, status, `expected ${status} ${code}, got ${res.status}: ${text}`)
  if (method === 'HEAD') {
    assert.equal(text, '')
    return { code, message: '' }
  }
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/)
  const body = JSON.parse(text) as { errors?: unknown }
  assertErrorShape(body)
  const first = (body as { errors: Array<{ code: string; message: string }> }).errors[0]
  assert.equal(first.code, code, text)
  return first
}

export function assertErrorShape(body: unknown): void {
  assert.ok(body && typeof body === 'object', 'error body is an object')
  const errors = (body as { errors?: unknown }).errors
  assert.ok(Array.isArray(errors) && errors.length > 0, 'errors is a non-empty array')
  for (const e of errors as Array<Record<string, unknown>>) {
    assert.equal(typeof e.code, 'string')
    assert.match(e.code as string, /^[A-Z_]+$/)
    assert.ok(SPEC_ERROR_CODES.has(e.code as string), `${e.code} is a distribution-spec code`)
    assert.equal(typeof e.message, 'string')
  }
}

/** Monolithic POST ?digest= of one blob; returns its digest. */
export async function pushBlob(request: Requester, repo: string, bytes: Buffer): Promise<string> {
  const digest = sha256(bytes)
  const res = await request(`/v2/${repo}/blobs/uploads/?digest=${digest}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/octet-stream' },
    body: bytes,
  })
  assert.equal(res.status, 201, await res.text())
  return digest
}

export async function putManifest(
  request: Requester,
  repo: string,
  reference: string,
  bytes: Buffer,
  mediaType: string,
): Promise<Response> {
  return request(`/v2/${repo}/manifests/${reference}`, {
    method: 'PUT',
    headers: { 'Content-Type': mediaType },
    body: bytes,
  })
}

/** POST /blobs/uploads/ and return the session's Location. */
export async function openSession(request: Requester, repo: string): Promise<string> {
  const res = await request(`/v2/${repo}/blobs/uploads/`, { method: 'POST' })
  assert.equal(res.status, 202, await res.text())
  const location = res.headers.get('location')
  assert.ok(location)
  return location
}

/** Append a query parameter to a Location that may already carry one. */
export function withQuery(location: string, query: string): string {
  return location + (location.includes('?') ? '&' : '?') + query
}

export interface Stored {
  bytes: Buffer
  desc: Desc
}

/**
 * Push a config and `layers` layers to `repo` and return an image manifest (not pushed) of the
 * given media type; `extra` fields are merged into the manifest.
 */
export async function imageManifest(
  request: Requester,
  repo: string,
  seed: string,
  options: { docker?: boolean; layers?: number; extra?: Record<string, unknown> } = {},
): Promise<Stored> {
  const docker = options.docker ?? false
  const config = Buffer.from(JSON.stringify({ architecture: 'arm64', os: 'linux', seed }))
  await pushBlob(request, repo, config)
  const layers: Desc[] = []
  for (let i = 0; i < (options.layers ?? 1); i++) {
    const layer = Buffer.from(`${seed} layer ${i}`)
    await pushBlob(request, repo, layer)
    layers.push(descOf(docker ? MT.dockerLayer : MT.ociLayer, layer))
  }
  const mediaType = docker ? MT.dockerManifest : MT.ociManifest
  const doc = {
    schemaVersion: 2,
    mediaType,
    config: descOf(docker ? MT.dockerConfig : MT.ociConfig, config),
    layers,
    ...options.extra,
  }
  const bytes = Buffer.from(JSON.stringify(doc))
  return { bytes, desc: descOf(mediaType, bytes) }
}

/** An index (OCI or Docker list) over already pushed children. */
export function indexOf(
  children: Desc[],
  docker = false,
  extra: Record<string, unknown> = {},
): Stored {
  const mediaType = docker ? MT.dockerList : MT.ociIndex
  const manifests = children.map((c, i) => ({
    ...c,
    platform: { architecture: i % 2 ? 'arm64' : 'amd64', os: 'linux' },
  }))
  const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType, manifests, ...extra }))
  return { bytes, desc: descOf(mediaType, bytes) }
}

export const EMPTY_CONFIG = Buffer.from('{}')

/**
 * An artifact manifest (image-spec "artifacts guidance"): empty config, one blob layer,
 * `subject` and optional artifactType and annotations. Pushes its blobs.
 */
export async function artifactManifest(
  request: Requester,
  repo: string,
  subject: Desc,
  options: { artifactType?: string; annotations?: Record<string, string>; seed?: string } = {},
): Promise<Stored> {
  await pushBlob(request, repo, EMPTY_CONFIG)
  const payload = Buffer.from(`artifact payload ${options.seed ?? options.artifactType ?? ''}`)
  await pushBlob(request, repo, payload)
  const doc = {
    schemaVersion: 2,
    mediaType: MT.ociManifest,
    ...(options.artifactType && { artifactType: options.artifactType }),
    config: descOf(MT.ociEmpty, EMPTY_CONFIG),
    layers: [descOf('application/octet-stream', payload)],
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
    ...(options.annotations && { annotations: options.annotations }),
  }
  const bytes = Buffer.from(JSON.stringify(doc))
  return { bytes, desc: descOf(MT.ociManifest, bytes) }
}

/**
 * What a registry stores (its keys through its drivers, or the layout files under a root given
 * as a path), plus checks that nothing lies outside it: `outside` (a sibling directory) is empty,
 * and on S3 no bucket key lies outside the registries' prefixes.
 */
export async function snapshot(
  target: Pick<InMemoryRegistry, 'driver' | 'staging'> | string,
  outside?: string,
): Promise<string[]> {
  if (outside)
    assert.deepEqual(await readdir(outside, { recursive: true }), [], 'nothing outside the root')
  assert.deepEqual(await strayBucketKeys(), [], 'nothing outside the registry prefixes')
  return typeof target === 'string' ? layoutFiles(target) : storedKeys(target)
}

/**
 * One request over a real socket with node:http, sending `path` exactly as given (no URL
 * normalisation, unlike fetch), answered as a Web Response.
 */
export function rawRequest(
  url: string,
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: Buffer | string } = {},
): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, path, headers: options.headers }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('error', reject)
      res.on('end', () => {
        const headers = new Headers()
        for (const [k, v] of Object.entries(res.headers)) {
          if (v !== undefined) headers.set(k, Array.isArray(v) ? v.join(', ') : v)
        }
        const status = res.statusCode!
        const body =
          status === 204 || status === 304 || method === 'HEAD' ? null : Buffer.concat(chunks)
        resolve(new Response(body, { status, headers }))
      })
    })
    req.on('error', reject)
    req.end(options.body)
  })
}
