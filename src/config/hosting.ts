// Outpost's own `hosting` key: OCI image layout directories served read-only, without copying,
// under a repository-name prefix (the seed's "Hosting an OCI image layout"). Two forms:
//   {"path": "/media/usb/images", "prefix": "usb"}   a directory laid out like a storage root,
//                                                     one layout per repository: <path>/alpine
//                                                     (oci-layout, index.json, blobs/) is served
//                                                     as usb/alpine
//   {"path": "/media/usb/alpine", "repository": "usb/alpine"}
//                                                     one layout directory served as one
//                                                     repository
// Nothing under `path` is ever written; the engine state of each hosted store (lock, engine
// index) lives in the storage root under _outpost/hosted/<prefix or repository>/.
import { isAbsolute, relative, resolve } from 'node:path'
import { z } from 'zod'
import { RESERVED_COMPONENTS } from '../layout/index.js'

// distribution-spec "Pulling manifests": each path component of a name.
const COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/

/** Why `name` cannot be a hosted prefix or repository name, or undefined when it can. */
function nameProblem(name: string): string | undefined {
  for (const part of name.split('/')) {
    if (!COMPONENT.test(part))
      return `${JSON.stringify(name)} is not a repository name (lowercase path components such as "usb" or "usb/images")`
    if (RESERVED_COMPONENTS.has(part))
      return `${JSON.stringify(name)} has a component reserved by the image layout`
  }
  return undefined
}

const name = z.string().superRefine((s, ctx) => {
  const message = nameProblem(s)
  if (message) ctx.addIssue({ code: 'custom', message })
})

const hostedEntry = z
  .strictObject({
    path: z.string().min(1),
    prefix: name.optional(),
    repository: name.optional(),
  })
  .refine((v) => (v.prefix === undefined) !== (v.repository === undefined), {
    message:
      'give exactly one of "prefix" (a directory of layouts, one per repository) or ' +
      '"repository" (one layout directory)',
  })

export const hostingSchema = z.array(hostedEntry)

export type RawHosting = z.infer<typeof hostingSchema>

export interface HostedSettings {
  /** the hosted directory, absolute */
  path: string
  /**
   * the names it is served under: every repository under "<mountAt>/" for a directory of
   * layouts, exactly "<mountAt>" for one layout
   */
  mountAt: string
  /** a directory of layouts (prefix) or one layout (repository) */
  kind: 'prefix' | 'repository'
}

export function resolveHosting(raw: RawHosting | undefined, cwd: string): HostedSettings[] {
  return (raw ?? []).map((entry) => ({
    path: resolve(cwd, entry.path),
    mountAt: (entry.prefix ?? entry.repository)!,
    kind: entry.prefix !== undefined ? 'prefix' : 'repository',
  }))
}

/** a inside b, or the same directory (both absolute). */
function within(a: string, b: string): boolean {
  const rel = relative(b, a)
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel))
}

const nested = (a: string, b: string) => a === b || a.startsWith(`${b}/`) || b.startsWith(`${a}/`)

/**
 * Hosted stores that would collide: two mounts where one name could belong to both, a mount
 * under a subpath's route (the hosted store would hide the subpath's repositories), or a hosted
 * directory that holds, or lies in, a storage root (Outpost writes there).
 */
export function hostingProblems(
  hosted: HostedSettings[],
  routes: string[],
  roots: string[],
): string[] {
  const problems: string[] = []
  hosted.forEach((h, i) => {
    const at = `hosting.${i}`
    for (let j = 0; j < i; j++) {
      if (nested(h.mountAt, hosted[j].mountAt))
        problems.push(
          `${at}: "${h.mountAt}" overlaps hosting.${j} "${hosted[j].mountAt}"; ` +
            'each hosted directory needs a name of its own',
        )
    }
    const route = routes.find((r) => nested(h.mountAt, r))
    if (route !== undefined)
      problems.push(`${at}: "${h.mountAt}" overlaps the subpath "/${route}" of storage.subPaths`)
    const root = roots.find((r) => within(h.path, r) || within(r, h.path))
    if (root !== undefined)
      problems.push(
        `${at}.path: ${h.path} overlaps the storage root ${root}; ` +
          'a hosted directory must lie outside every store, which Outpost writes to',
      )
  })
  return problems
}
