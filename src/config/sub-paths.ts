// zot's storage.subPaths (seed: storage guide, "subpaths" and "Remote storage subpaths"): a route
// such as "/a" gives the repositories whose first path segment is "a" a store of their own. Here:
// what a route may be, and which stores may not share their storage (a store's lock, engine index
// and layout walk assume it alone owns its root, and its S3 prefix).
import { isAbsolute, relative } from 'node:path'
import { z } from 'zod'
import { RESERVED_COMPONENTS } from '../layout/index.js'

// distribution-spec "Pulling manifests": a name's path component is
// [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*. A route is "/" plus exactly one such component.
const COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/

/** Why `route` cannot be a subpath route, or undefined when it can. */
export function routeProblem(route: string): string | undefined {
  const expected =
    'expected "/" and one repository-name path segment such as "/a" or "/team-1" ' +
    '(lowercase letters and digits, separated by ".", "_", "__" or "-")'
  if (!route.startsWith('/'))
    return `route ${JSON.stringify(route)} must start with "/": ${expected}`
  const segment = route.slice(1)
  if (segment.includes('/'))
    return `route ${JSON.stringify(route)} has more than one segment: ${expected}`
  if (!COMPONENT.test(segment)) return `route ${JSON.stringify(route)} is not valid: ${expected}`
  if (RESERVED_COMPONENTS.has(segment))
    return `route ${JSON.stringify(route)} is reserved by the image layout: ${expected}`
  return undefined
}

/** The record of subpaths, each key checked as a route (zod's own key error names no reason). */
export function subPathsSchema<T extends z.ZodType>(store: T) {
  return z.record(z.string(), store).superRefine((v, ctx) => {
    for (const route of Object.keys(v)) {
      const message = routeProblem(route)
      if (message) ctx.addIssue({ code: 'custom', path: [route], message })
    }
  })
}

/** What the overlap checks need of one store, by its JSON path in the file. */
export interface StoreSite {
  /** e.g. "storage" or "storage.subPaths./a" */
  path: string
  /** absolute */
  rootDirectory: string
  storageDriver?: {
    bucket: string
    region: string
    regionendpoint?: string
    rootdirectory?: string
  }
}

/** a inside b, or the same directory (both absolute). */
function within(a: string, b: string): boolean {
  const rel = relative(b, a)
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel))
}

const trimSlashes = (s: string) => s.replace(/^\/+|\/+$/g, '')

/** a inside b, or the same prefix ('' is the whole bucket). */
function prefixWithin(a: string, b: string): boolean {
  return b === '' || a === b || a.startsWith(`${b}/`)
}

/**
 * Problems with stores that share storage: the same or nested rootDirectory (every store keeps
 * its lock and engine index there, and a store's catalog walk would list the other's
 * repositories), or, on S3, the same bucket with the same or nested rootdirectory prefix.
 */
export function overlapProblems(stores: StoreSite[]): string[] {
  const problems: string[] = []
  for (let i = 0; i < stores.length; i++) {
    for (let j = i + 1; j < stores.length; j++) {
      const [a, b] = [stores[i], stores[j]]
      if (within(a.rootDirectory, b.rootDirectory) || within(b.rootDirectory, a.rootDirectory)) {
        const how = a.rootDirectory === b.rootDirectory ? 'the same as' : 'nested with'
        problems.push(
          `${b.path}.rootDirectory: ${b.rootDirectory} is ${how} ${a.path}.rootDirectory ` +
            `${a.rootDirectory}; each store needs a directory of its own, outside the others`,
        )
      }
      const [s, t] = [a.storageDriver, b.storageDriver]
      if (!s || !t || s.bucket !== t.bucket) continue
      if ((s.regionendpoint ?? `region ${s.region}`) !== (t.regionendpoint ?? `region ${t.region}`))
        continue
      const [p, q] = [trimSlashes(s.rootdirectory ?? ''), trimSlashes(t.rootdirectory ?? '')]
      if (prefixWithin(p, q) || prefixWithin(q, p)) {
        problems.push(
          `${b.path}.storageDriver.rootdirectory: "/${q}" in bucket ${t.bucket} is ` +
            `${p === q ? 'the same as' : 'nested with'} ${a.path}.storageDriver.rootdirectory ` +
            `"/${p}"; give each store its own prefix, outside the others`,
        )
      }
    }
  }
  return problems
}
