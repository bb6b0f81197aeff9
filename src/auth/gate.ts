// The access middleware for /v2/: identify the caller (Basic against htpasswd, or a Bearer token
// from Outpost's own realm), then allow or refuse the request by the action it needs —
// read (pulls, listings), create (uploads, new tags, digests), update (moving an existing tag),
// delete — answering 401 with a challenge when credentials could help and 403 DENIED when they
// could not. GET /v2/ always carries the challenge; the maintenance endpoints under
// /v2/_outpost/ are admin-only but the repository listing, which is filtered like the catalog;
// the token realm itself is answered here.
import type { Context, MiddlewareHandler } from 'hono'
import type { Action } from '../config/auth.js'
import { routeOf, type MatchedRoute } from '../api/route-table.js'
import { checkRepoName, type RegistryRouter } from '../registry/index.js'
import { isTag } from '../registry/names.js'
import type { Access, AccessState, Identity } from './access.js'
import { challenge, denied, scopeActions, TOKEN_PATH, unauthorized } from './challenge.js'
import './context.js'
import { issueToken } from './token-endpoint.js'

/** GET /v2/_outpost/repositories (the operator's page, src/ui/): not admin-only. */
export const REPOSITORIES_PATH = '/v2/_outpost/repositories'

export function accessMiddleware(access: Access, router: RegistryRouter): MiddlewareHandler {
  return async (c, next) => {
    c.set('access', access)
    const path = c.req.path
    if (!path.startsWith('/v2/') && path !== '/v2') return next()
    const state = access.state
    // An open registry (no logins, no policies): nothing to check on the hot path; /v2/ still
    // carries the challenge and the token realm still answers, as below.
    if (state.policy.unrestricted && path !== TOKEN_PATH) {
      if (path === '/v2/' || path === '/v2') {
        c.header('WWW-Authenticate', challenge(c, state.settings))
      }
      return next()
    }
    const identity = await access.identify(c, state)
    if (identity.invalid) {
      if (identity.invalid === 'password') await access.failDelay(state)
      throw unauthorized(
        c,
        state.settings,
        `invalid ${identity.invalid === 'token' ? 'or expired token' : 'user name or password'}`,
      )
    }
    c.set('user', identity.user)
    c.set('permissions', { can: (repo, action) => access.permits(identity, repo, action, state) })
    if (path === TOKEN_PATH) return issueToken(c, access, state, identity)
    // The operator page's listing: anyone who may list the catalog, filtered by read access.
    if (path === REPOSITORIES_PATH || path.startsWith(`${REPOSITORIES_PATH}/`)) {
      if (identity.user === undefined && !state.policy.anonymousAllowed() && state.htpasswd) {
        throw unauthorized(c, state.settings, 'authentication required', 'registry:catalog:*')
      }
      return next()
    }
    if (path.startsWith('/v2/_outpost/')) {
      // Maintenance endpoints change or reveal storage state: admins only.
      if (state.policy.isAdmin(identity.user)) return next()
      throw refusal(c, state, identity, 'the maintenance endpoints are for admins')
    }
    const route = routeOf(c)
    if (!route) return next()
    if (route.name === 'base' || route.name === 'catalog') {
      if (route.name === 'base') c.header('WWW-Authenticate', challenge(c, state.settings))
      if (identity.user === undefined && !state.policy.anonymousAllowed() && state.htpasswd) {
        const scope = route.name === 'catalog' ? 'registry:catalog:*' : undefined
        throw unauthorized(c, state.settings, 'authentication required', scope)
      }
      return next()
    }
    // An invalid name is refused here (NAME_INVALID), before any handler sees it.
    const repo = checkRepoName(route.params.name ?? '')
    const action = await requiredAction(c.req.method, route, repo, identity, access, router)
    if (access.permits(identity, repo, action, state)) return next()
    const scope = `repository:${repo}:${scopeActions(action)}`
    // A token narrower than the policy: a new token with this scope would be granted.
    const narrow = identity.token !== undefined && state.policy.can(identity.user, repo, action)
    const message = `${who(identity)} may not ${action} ${repo}`
    throw refusal(c, state, identity, message, narrow ? scope : undefined, scope)
  }
}

function who(identity: Identity): string {
  return identity.user === undefined ? 'an anonymous client' : `user ${identity.user}`
}

/**
 * 401 with a challenge when credentials (or a token with `narrowScope`) could help, else 403
 * DENIED. Without logins configured no credentials can help.
 */
function refusal(
  c: Context,
  state: AccessState,
  identity: Identity,
  message: string,
  narrowScope?: string,
  scope = narrowScope,
) {
  if (state.htpasswd && (identity.user === undefined || narrowScope)) {
    return unauthorized(c, state.settings, message, scope)
  }
  return denied(message)
}

/** The action a request needs on its repository. */
async function requiredAction(
  method: string,
  route: MatchedRoute,
  repo: string,
  identity: Identity,
  access: Access,
  router: RegistryRouter,
): Promise<Action> {
  const m = method === 'HEAD' ? 'GET' : method
  switch (route.name) {
    case 'uploads':
    case 'upload':
      return 'create'
    case 'blob':
      return m === 'DELETE' ? 'delete' : 'read'
    case 'manifest': {
      if (m === 'DELETE') return 'delete'
      if (m !== 'PUT') return 'read'
      const reference = route.params.reference ?? ''
      if (!isTag(reference)) return 'create'
      // zot's rule: moving an existing tag is an update, a new tag a create. Only a caller
      // allowed one but not the other makes the lookup worthwhile.
      const create = access.permits(identity, repo, 'create')
      if (create === access.permits(identity, repo, 'update')) return 'create'
      const tags = await router
        .for(repo)
        .tags(repo)
        .catch((): string[] => [])
      return tags.includes(reference) ? 'update' : 'create'
    }
    default:
      return 'read'
  }
}
