// The distribution-spec endpoints (spec "Endpoints" table, end-1 .. end-13). Repository names
// contain slashes, so each pattern anchors its resource keyword at the end of the path and the
// name is whatever precedes it; the name itself is validated by the handler.
export type RouteName =
  'base' | 'catalog' | 'tags' | 'manifest' | 'blob' | 'uploads' | 'upload' | 'referrers'

export interface MatchedRoute {
  name: RouteName
  /** the template logged for the request, e.g. /v2/<name>/blobs/<digest> */
  template: string
  params: { name?: string; reference?: string; digest?: string; session?: string }
}

interface Pattern {
  name: RouteName
  template: string
  regex: RegExp
  keys: Array<keyof MatchedRoute['params']>
}

const PATTERNS: Pattern[] = [
  { name: 'base', template: '/v2/', regex: /^\/v2\/?$/, keys: [] },
  { name: 'catalog', template: '/v2/_catalog', regex: /^\/v2\/_catalog$/, keys: [] },
  {
    name: 'uploads',
    template: '/v2/<name>/blobs/uploads/',
    regex: /^\/v2\/(.+)\/blobs\/uploads\/?$/,
    keys: ['name'],
  },
  {
    name: 'upload',
    template: '/v2/<name>/blobs/uploads/<reference>',
    regex: /^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/,
    keys: ['name', 'session'],
  },
  {
    name: 'blob',
    template: '/v2/<name>/blobs/<digest>',
    regex: /^\/v2\/(.+)\/blobs\/([^/]+)$/,
    keys: ['name', 'digest'],
  },
  {
    name: 'manifest',
    template: '/v2/<name>/manifests/<reference>',
    regex: /^\/v2\/(.+)\/manifests\/([^/]+)$/,
    keys: ['name', 'reference'],
  },
  {
    name: 'tags',
    template: '/v2/<name>/tags/list',
    regex: /^\/v2\/(.+)\/tags\/list$/,
    keys: ['name'],
  },
  {
    name: 'referrers',
    template: '/v2/<name>/referrers/<digest>',
    regex: /^\/v2\/(.+)\/referrers\/([^/]+)$/,
    keys: ['name', 'digest'],
  },
]

const matched = new WeakMap<object, MatchedRoute | undefined>()

/**
 * matchRoute of a request's path, matched once per request however many ask (the access gate,
 * the metrics labels, the handler).
 */
export function routeOf(c: { req: { path: string } }): MatchedRoute | undefined {
  if (matched.has(c)) return matched.get(c)
  const route = matchRoute(c.req.path)
  matched.set(c, route)
  return route
}

export function matchRoute(pathname: string): MatchedRoute | undefined {
  for (const pattern of PATTERNS) {
    const m = pattern.regex.exec(pathname)
    if (!m) continue
    const params: MatchedRoute['params'] = {}
    pattern.keys.forEach((key, i) => (params[key] = decodeParam(m[i + 1])))
    return { name: pattern.name, template: pattern.template, params }
  }
  return undefined
}

/**
 * Percent-decode a path parameter; a malformed escape stays as is and fails validation later.
 * An encoded slash stays encoded: per RFC 3986 §2.2 `%2F` is data inside one path segment, not
 * a separator, so `/v2/a%2Fb/...` names no repository (else one repository would answer under
 * two paths, and a proxy's path rule for `/v2/a/` would not see requests for `a/b`).
 */
function decodeParam(text: string): string {
  if (!text.includes('%')) return text // nearly every request: nothing to decode
  return text
    .split(/%2f/i)
    .map((piece) => {
      try {
        return decodeURIComponent(piece)
      } catch {
        return piece
      }
    })
    .join('%2F')
}
