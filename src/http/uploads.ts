// Blob uploads (distribution-spec "Pushing blobs"): POST opens a session, pushes monolithically
// with ?digest=, or mounts with ?mount=&from=; PATCH appends; PUT ?digest= closes; GET reports
// progress; DELETE cancels.
import {
  checkRepoName,
  Digest,
  type RegistryRouter,
  type UploadProgress,
} from '../registry/index.js'
import { RegistryError } from '../registry/index.js'
import { connectionSignal, hasBody, requestStream, sendReply, type AppContext } from './body.js'
import { progressRange, uploadRange } from './range.js'
import { mayRead } from '../auth/index.js'

function sessionHeaders(repo: string, progress: UploadProgress): Record<string, string> {
  return {
    Location: `/v2/${repo}/blobs/uploads/${progress.id}`,
    Range: progressRange(progress.offset),
    'Docker-Upload-UUID': progress.id,
    'Content-Length': '0',
  }
}

function blobCreated(c: AppContext, repo: string, digest: Digest) {
  return sendReply(c, 201, {
    Location: `/v2/${repo}/blobs/${digest}`,
    'Docker-Content-Digest': digest.toString(),
    'Content-Length': '0',
  })
}

/** The body length the client declared, when it did. */
function declaredLength(c: AppContext): number | undefined {
  const header = c.req.header('content-length')
  return header === undefined || !/^\d+$/.test(header) ? undefined : Number(header)
}

/** The Content-Range of a chunk, checked against Content-Length when both are sent. */
function chunkRange(c: AppContext) {
  const range = uploadRange(c.req.header('content-range'))
  const length = c.req.header('content-length')
  if (range && length !== undefined && Number(length) !== range.end - range.start + 1) {
    throw new RegistryError('UPLOAD_RANGE_INVALID', 'Content-Length does not match Content-Range')
  }
  return range
}

export async function startUpload(c: AppContext, router: RegistryRouter, name: string) {
  const repo = checkRepoName(name)
  const registry = router.for(repo)
  const digestParam = c.req.query('digest')
  const mount = c.req.query('mount')
  if (digestParam !== undefined) {
    const digest = Digest.parse(digestParam)
    await registry.uploads.putWhole(repo, digest, requestStream(c), {
      length: declaredLength(c),
      signal: connectionSignal(c),
    })
    return blobCreated(c, repo, digest)
  }
  if (mount !== undefined) {
    const digest = Digest.parse(mount)
    const from = c.req.query('from')
    // Without `from` (or when `from` lacks the blob, or the caller may not read `from`) fall back
    // to a new session, as the spec allows.
    const source = from === undefined ? undefined : checkRepoName(from)
    if (source && mayRead(c, source) && (await router.mountBlob(repo, digest, source))) {
      return blobCreated(c, repo, digest)
    }
  }
  const progress = await registry.uploads.start(repo)
  return sendReply(c, 202, sessionHeaders(repo, progress))
}

export async function uploadStatus(
  c: AppContext,
  router: RegistryRouter,
  name: string,
  id: string,
) {
  const repo = checkRepoName(name)
  const registry = router.for(repo)
  const progress = await registry.uploads.status(repo, id)
  return c.body(null, 204, sessionHeaders(repo, progress))
}

export async function appendUpload(
  c: AppContext,
  router: RegistryRouter,
  name: string,
  id: string,
) {
  const repo = checkRepoName(name)
  const registry = router.for(repo)
  const range = chunkRange(c)
  const progress = await registry.uploads.append(repo, id, requestStream(c), {
    range,
    length: declaredLength(c),
    signal: connectionSignal(c),
  })
  return sendReply(c, 202, sessionHeaders(repo, progress))
}

export async function finishUpload(
  c: AppContext,
  router: RegistryRouter,
  name: string,
  id: string,
) {
  const repo = checkRepoName(name)
  const registry = router.for(repo)
  const digestParam = c.req.query('digest')
  if (digestParam === undefined) {
    throw new RegistryError(
      'DIGEST_INVALID',
      'the digest query parameter is required to close an upload',
    )
  }
  const digest = Digest.parse(digestParam)
  const body = hasBody(c) ? requestStream(c) : undefined
  await registry.uploads.finish(repo, id, digest, body, {
    range: body ? chunkRange(c) : undefined,
    length: declaredLength(c),
    signal: connectionSignal(c),
  })
  return blobCreated(c, repo, digest)
}

export async function cancelUpload(
  c: AppContext,
  router: RegistryRouter,
  name: string,
  id: string,
) {
  const repo = checkRepoName(name)
  const registry = router.for(repo)
  await registry.uploads.cancel(repo, id)
  return c.body(null, 204)
}
