// content.platforms on demand (issue 15): an index fetched under a rule with `platforms` is
// stored as the upstream's bytes, so its digest (and any signature over it) holds, with the
// children the rule leaves out recorded absent (image-spec image-index.md lets an index name
// manifests a registry does not hold). A request for one of those answers 404 MANIFEST_UNKNOWN
// without asking the upstream, whether pull-through or the periodic mirror stored the index:
// a board never downloads images for CPUs it does not have. The choice is the mirror's
// (selectChildren), so both agree.
import type { Registry } from '../registry/index.js'
import { absentAsUndefined } from './evictor.js'
import { selectChildren, type IndexChild } from './mirror-selection.js'
import type { PendingManifest } from './pending-manifests.js'
import type { Route } from './upstream-fetch.js'

/** The children of an index (its bytes) that the route's rule leaves out: none without platforms. */
export function leftOutChildren(route: Route, index: Buffer): Set<string> {
  const { platforms } = route.rule
  if (!platforms) return new Set()
  const doc = JSON.parse(index.toString('utf8')) as { manifests?: IndexChild[] }
  const children = Array.isArray(doc.manifests) ? doc.manifests : []
  const taken = new Set(
    selectChildren(children, platforms, route.settings.referrers).map((c) => c.digest),
  )
  return new Set(children.map((c) => c.digest).filter((d) => !taken.has(d)))
}

/**
 * The index of which `digest` is a child the rule leaves out, if any: a fetched index waiting in
 * `pending`, or one the repository stores with the child recorded absent (ABSENT_CHILDREN) that
 * the rule as configured now still leaves it out of. A digest no known index names is not
 * judged here: it is fetched as any manifest is.
 */
export async function leftOutOf(
  route: Route,
  registry: Registry,
  pending: readonly PendingManifest[],
  repo: string,
  digest: string,
): Promise<string | undefined> {
  if (!route.rule.platforms) return undefined
  for (const entry of pending) if (entry.absentChildren?.has(digest)) return entry.digest
  for (const index of await registry.manifests.absentFrom(repo, digest)) {
    const stored = await absentAsUndefined(registry.manifests.get(repo, index))
    if (stored && leftOutChildren(route, stored.bytes).has(digest)) return index
  }
  return undefined
}
