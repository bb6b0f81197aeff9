// A blob pulled through from an upstream into the store, resumable across requests and restarts.
// Its bytes stage in an upload session whose id follows from the repository and the digest, so
// the next request for the blob — the client's retry after a cut, or any request after a
// restart — finds the staged prefix (re-hashed from disk when this process did not stage it),
// sends it to its client from disk and asks the upstream only for the rest, with Range. The blob
// becomes visible only when the session's digest check passes (the upload session's
// finish), as a pushed blob does; a prefix whose continuation does not match is discarded.
import { createHash } from 'node:crypto'
import type { Readable } from 'node:stream'
import type { Digest, LogFn, Registry } from '../registry/index.js'
import { teeBlob } from './blob-tee.js'
import { openResumableBlob, UnusableBlobAnswer } from './resumable-blob.js'
import { MAX_INLINE_RETRY_DELAY_MS, UpstreamError } from './upstream-client.js'
import type { Route } from './upstream-fetch.js'

export interface PulledBlob {
  /** NaN when the upstream did not say */
  size: number
  /** the whole blob for the client, staged prefix first */
  body: Readable
  /** settles once the verified blob is visible in the store; rejects when it is not */
  stored: Promise<void>
}

/**
 * The upload-session id staging `digest` for `repo`: a UUID made from both, the same in every
 * process, so a restart finds the prefix again.
 */
export function stagingSessionId(repo: string, digest: Digest): string {
  const hex = createHash('sha256').update(`outpost pull-through\n${repo}\n${digest}`).digest('hex')
  return [
    hex.slice(0, 8),
    hex.slice(8, 12),
    hex.slice(12, 16),
    hex.slice(16, 20),
    hex.slice(20, 32),
  ].join('-')
}

export async function pullBlob(
  route: Route,
  registry: Registry,
  repo: string,
  digest: Digest,
  log: LogFn,
): Promise<PulledBlob> {
  const { uploads } = registry
  const id = stagingSessionId(repo, digest)
  const staged = await uploads.resume(repo, id, digest.algorithm)
  const discard = () =>
    uploads.cancel(repo, id).catch((err) =>
      log('pull-through: could not discard a staged blob', {
        repo,
        digest: `${digest}`,
        error: String(err),
      }),
    )
  let download
  try {
    download = await openResumableBlob(route, digest, {
      start: staged.offset,
      // A client is waiting: zot's retryDelay (default 5m) is capped, as for every request.
      retryDelayMs: Math.min(route.settings.retryDelayMs, MAX_INLINE_RETRY_DELAY_MS),
      log,
    })
  } catch (err) {
    if (err instanceof UnusableBlobAnswer) await discard()
    throw err
  }
  const { size } = download
  const tee = teeBlob(
    download.body,
    digest,
    (body) =>
      uploads.append(repo, id, body, {
        range: { start: staged.offset, end: Number.isNaN(size) ? Infinity : size - 1 },
        ...(!Number.isNaN(size) && { length: size - staged.offset }),
      }),
    route.client.name,
    staged.offset > 0
      ? { hash: staged.hash, read: () => uploads.readStaged(repo, id, staged.offset) }
      : undefined,
  )
  const stored = tee.received.then(
    async () => {
      await uploads.finish(repo, id, digest)
    },
    async (err) => {
      // An upstream that broke off for longer than the retries bridge: the staged bytes stay
      // for the next request (upload expiry removes them if none comes). Anything else — a
      // mismatch, a store that failed — leaves nothing worth continuing.
      if (!(err instanceof UpstreamError) || err instanceof UnusableBlobAnswer) await discard()
      throw err
    },
  )
  return { size, body: tee.client, stored }
}
