// The pull-through cache's requests to an upstream registry (distribution-spec "Pulling
// manifests", "Pulling blobs", "Listing Referrers"): each turns the upstream's answer into what
// the cache needs, or into a named failure. A 404 is the client's 404 (the content does not
// exist there); anything else unexpected is an UpstreamError, which the cache answers with what
// it holds. Nothing here stores anything.
import type { ContentRule, UpstreamSettings } from '../config/sync.js'
import { Digest, MAX_MANIFEST_BYTES, MEDIA_TYPES, RegistryError } from '../registry/index.js'
import { parseManifest } from '../registry/manifest-rules.js'
import type { PendingManifest } from './pending-manifests.js'
import { BodyTooLarge, readBytes, UpstreamError, type UpstreamClient } from './upstream-client.js'

/** An upstream and the name a local repository has there. */
export interface Route {
  client: UpstreamClient
  settings: UpstreamSettings
  /** the content rule that mapped the local name to `remote` */
  rule: ContentRule
  /** the repository's name at the upstream */
  remote: string
}

const ACCEPT = [
  MEDIA_TYPES.ociManifest,
  MEDIA_TYPES.ociIndex,
  MEDIA_TYPES.dockerManifest,
  MEDIA_TYPES.dockerList,
].join(', ')

/** A request made while a cached copy could answer: a slow upstream must not stall the pull. */
export const RECHECK_TIMEOUT_MS = 3000

/** The manifest `reference` names upstream, checked against its digest and parsed. */
export async function fetchUpstreamManifest(
  route: Route,
  repo: string,
  reference: string,
  retry: boolean,
): Promise<PendingManifest> {
  const { client } = route
  const { res, bytes } = await manifestBody(route, reference, retry)
  const byDigest = reference.includes(':')
  const digest = Digest.of(byDigest ? Digest.parse(reference).algorithm : 'sha256', bytes)
  const claimed = res.headers['docker-content-digest']
  if ((byDigest && digest.toString() !== reference) || (claimed && claimed !== `${digest}`)) {
    throw new UpstreamError(client.name, `sent a manifest whose digest is ${digest}`)
  }
  const parsed = parseManifest(bytes, res.headers['content-type'])
  return {
    repo,
    digest: digest.toString(),
    mediaType: parsed.mediaType,
    bytes,
    tags: new Set(byDigest ? [] : [reference]),
    blobs: parsed.blobs.map((b) => ({ digest: b.digest, size: b.size })),
    children: parsed.manifests.map((m) => m.digest.toString()),
    ...(parsed.subject && { subject: parsed.subject.digest.toString() }),
  }
}

/**
 * GET the manifest whole. A manifest is small: a body the link cut short is asked for again from
 * the start (no Range), within the retry policy when `retry` is set.
 */
async function manifestBody(route: Route, reference: string, retry: boolean) {
  const { client, remote } = route
  for (let attempt = 0; ; attempt++) {
    const res = await client.request('GET', remote, `/v2/${remote}/manifests/${reference}`, {
      accept: ACCEPT,
      retry,
    })
    if (res.status !== 200) {
      res.body.resume()
      if (res.status === 404) {
        throw new RegistryError(
          'MANIFEST_UNKNOWN',
          `manifest unknown: ${reference} (not cached, and upstream ${client.name} does not have ${remote}:${reference})`,
          { upstream: client.name, status: 404 },
        )
      }
      throw new UpstreamError(client.name, `answered ${res.status} for the manifest`, res.status)
    }
    try {
      return { res, bytes: await readBytes(res.body, MAX_MANIFEST_BYTES) }
    } catch (err) {
      const cut = !(err instanceof BodyTooLarge)
      if (!cut || !retry || attempt >= route.settings.maxRetries) {
        throw new UpstreamError(client.name, `manifest ${reference}: ${(err as Error).message}`)
      }
    }
  }
}

/** The digest a tag names upstream now; undefined when the upstream does not have the tag. */
export async function upstreamTagDigest(route: Route, tag: string): Promise<string | undefined> {
  const res = await route.client.request(
    'HEAD',
    route.remote,
    `/v2/${route.remote}/manifests/${tag}`,
    { accept: ACCEPT, timeoutMs: RECHECK_TIMEOUT_MS },
  )
  res.body.resume()
  const digest = res.headers['docker-content-digest']
  return res.status === 200 && typeof digest === 'string' ? digest : undefined
}

/** A blob's size as the upstream's HEAD answers it (GET goes through resumable-blob.ts). */
export async function upstreamBlobSize(route: Route, digest: Digest): Promise<number> {
  const { client, remote } = route
  const res = await client.request('HEAD', remote, `/v2/${remote}/blobs/${digest}`, {
    retry: true,
  })
  res.body.resume()
  if (res.status === 404) {
    throw new RegistryError(
      'BLOB_UNKNOWN',
      `blob unknown: ${digest} (not cached, and upstream ${client.name} does not have it)`,
      { upstream: client.name, status: 404 },
    )
  }
  if (res.status !== 200) {
    throw new UpstreamError(client.name, `answered ${res.status} for the blob`, res.status)
  }
  return Number(res.headers['content-length'] ?? NaN)
}

/** The upstream's referrers of `subject`: [] when it has no referrers API. */
export async function upstreamReferrers<T>(
  route: Route,
  subject: string,
  artifactType: string | undefined,
): Promise<T[]> {
  return (await upstreamReferrerListing<T>(route, subject, artifactType)).manifests
}

/**
 * The upstream's referrers of `subject`, and whether it has the referrers API at all
 * (distribution-spec "Listing Referrers": a registry that supports it answers 200, even with
 * an empty list; anything else means the client falls back to the referrers tag schema).
 */
export async function upstreamReferrerListing<T>(
  route: Route,
  subject: string,
  artifactType: string | undefined,
): Promise<{ manifests: T[]; api: boolean }> {
  const query = artifactType ? `?artifactType=${encodeURIComponent(artifactType)}` : ''
  const res = await route.client.request(
    'GET',
    route.remote,
    `/v2/${route.remote}/referrers/${subject}${query}`,
    { timeoutMs: RECHECK_TIMEOUT_MS, accept: MEDIA_TYPES.ociIndex },
  )
  if (res.status !== 200) {
    res.body.resume()
    return { manifests: [], api: false }
  }
  const index = JSON.parse((await readBytes(res.body, MAX_MANIFEST_BYTES)).toString())
  return { manifests: Array.isArray(index.manifests) ? index.manifests : [], api: true }
}

/** What a client gets when nothing cached answers: the upstream's failure, named. */
export function upstreamFailure(route: Route, err: unknown, what: string): RegistryError {
  if (err instanceof RegistryError) return err
  const message = err instanceof Error ? err.message : String(err)
  return new RegistryError(
    'UNAVAILABLE',
    `${what} is not cached and upstream ${route.client.name} failed: ${message}`,
    { upstream: route.client.name, error: message },
  )
}
