// GET /v2/<name>/referrers/<digest> (distribution-spec "Listing Referrers"): always an image
// index, empty when nothing refers to the subject (never 404), filtered by artifactType with
// OCI-Filters-Applied saying so.
import { checkRepoName, Digest, MEDIA_TYPES, type RegistryRouter } from '../registry/index.js'
import type { PullThrough } from '../upstream/index.js'
import type { AppContext } from './body.js'

export async function listReferrers(
  c: AppContext,
  router: RegistryRouter,
  name: string,
  digestText: string,
  pull?: PullThrough,
) {
  const repo = checkRepoName(name)
  const subject = Digest.parse(digestText)
  const artifactType = c.req.query('artifactType')
  const local = () => router.for(repo).referrers.list(repo, subject.toString(), artifactType)
  const manifests = pull
    ? await pull.referrers(repo, subject.toString(), artifactType, c.req.query('ns'), local)
    : await local()
  if (artifactType !== undefined) c.header('OCI-Filters-Applied', 'artifactType')
  const body = JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex, manifests })
  return c.body(body, 200, { 'Content-Type': MEDIA_TYPES.ociIndex })
}
