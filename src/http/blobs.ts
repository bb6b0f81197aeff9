// GET/HEAD/DELETE /v2/<name>/blobs/<digest> (distribution-spec "Pulling blobs", "Deleting
// blobs"). One Range answers 206 with Content-Range; an unsatisfiable one 416.
import { checkRepoName, Digest, type RegistryRouter } from '../registry/index.js'
import { RegistryError } from '../registry/index.js'
import { connectionSignal, sendReply, sendStream, type AppContext } from './body.js'
import { requestedRange } from './range.js'
import type { PullThrough } from '../upstream/index.js'

export async function getBlob(
  c: AppContext,
  router: RegistryRouter,
  name: string,
  digestText: string,
  pull?: PullThrough,
) {
  const repo = checkRepoName(name)
  const registry = router.for(repo)
  const digest = Digest.parse(digestText)
  const headers: Record<string, string> = {
    'Content-Type': 'application/octet-stream',
    'Docker-Content-Digest': digest.toString(),
    'Accept-Ranges': 'bytes',
    ETag: `"${digest}"`,
  }
  // Not cached yet: the whole blob streams from the upstream as it is stored (a Range is
  // ignored, which RFC 9110 §14.2 allows); once cached, the code below serves it.
  const pulled = await pull?.blob(repo, digest, c.req.query('ns'), c.req.method === 'HEAD')
  if (pulled) {
    if (!Number.isNaN(pulled.size)) headers['Content-Length'] = String(pulled.size)
    if (!pulled.body) return c.body(null, 200, headers)
    return sendStream(c, 200, headers, pulled.body)
  }
  const { size } = await registry.blobs.require(repo, digest)
  let range
  try {
    range = requestedRange(c.req.header('range'), size)
  } catch (err) {
    if (err instanceof RegistryError) c.header('Content-Range', `bytes */${size}`)
    throw err
  }
  const length = range ? range.end - range.start + 1 : size
  headers['Content-Length'] = String(length)
  if (range) headers['Content-Range'] = `bytes ${range.start}-${range.end}/${size}`
  const status = range ? 206 : 200
  if (c.req.method === 'HEAD' || length === 0) return sendReply(c, status, headers)
  const stream = await registry.blobs.read(repo, digest, range, connectionSignal(c))
  return sendStream(c, status, headers, stream)
}

export async function deleteBlob(
  c: AppContext,
  router: RegistryRouter,
  name: string,
  digestText: string,
) {
  const repo = checkRepoName(name)
  try {
    await router.for(repo).deleteBlob(repo, Digest.parse(digestText))
  } catch (err) {
    // A blob a manifest still holds: 405, and RFC 9110 §15.5.6 wants Allow on every 405.
    if (err instanceof RegistryError && err.code === 'UNSUPPORTED') c.header('Allow', 'GET, HEAD')
    throw err
  }
  return c.body(null, 202)
}
