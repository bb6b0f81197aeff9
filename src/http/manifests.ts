// PUT/GET/HEAD/DELETE /v2/<name>/manifests/<reference> (distribution-spec "Pushing manifests",
// "Pulling manifests", "Deleting manifests"). Bodies are limited to 4 MiB (413 beyond).
import { checkRepoName, MAX_MANIFEST_BYTES, type RegistryRouter } from '../registry/index.js'
import type { PullThrough } from '../upstream/index.js'
import { readBody, sendReply, type AppContext } from './body.js'

export async function putManifest(
  c: AppContext,
  router: RegistryRouter,
  name: string,
  reference: string,
) {
  const repo = checkRepoName(name)
  const registry = router.for(repo)
  const bytes = await readBody(c, MAX_MANIFEST_BYTES)
  const result = await registry.manifests.put(repo, reference, bytes, c.req.header('content-type'))
  const headers: Record<string, string> = {
    Location: `/v2/${repo}/manifests/${result.digest}`,
    'Docker-Content-Digest': result.digest.toString(),
    'Content-Length': '0',
  }
  // distribution-spec: a manifest with a subject is answered with OCI-Subject.
  if (result.subject) headers['OCI-Subject'] = result.subject
  return sendReply(c, 201, headers)
}

export async function getManifest(
  c: AppContext,
  router: RegistryRouter,
  name: string,
  reference: string,
  pull?: PullThrough,
) {
  const repo = checkRepoName(name)
  const registry = router.for(repo)
  // containerd, using Outpost as a mirror, names the upstream in ?ns=.
  const manifest = pull
    ? await pull.manifest(repo, reference, c.req.query('ns'))
    : await registry.manifests.get(repo, reference)
  const headers = {
    'Content-Type': manifest.mediaType,
    'Content-Length': String(manifest.bytes.length),
    'Docker-Content-Digest': manifest.digest,
    ETag: `"${manifest.digest}"`,
  }
  return sendReply(c, 200, headers, manifest.bytes)
}

export async function deleteManifest(
  c: AppContext,
  router: RegistryRouter,
  name: string,
  reference: string,
) {
  const repo = checkRepoName(name)
  const registry = router.for(repo)
  await registry.manifests.delete(repo, reference)
  return c.body(null, 202)
}
