// GET /v2/_outpost/token: Outpost's own token realm (Docker's token authentication specification,
// "Requesting a Token"). The client authenticates with Basic (or comes anonymous), names the
// scopes it wants (`scope=repository:<name>:pull,push`, repeatable), and receives a short-lived
// token granting the part of those scopes the access policy allows: {token, access_token,
// expires_in, issued_at}. Asking for more than allowed is not an error: the token grants less.
import type { Context } from 'hono'
import type { Action } from '../config/auth.js'
import { checkRepoName, RegistryError } from '../registry/index.js'
import type { Access, AccessState, Identity } from './access.js'
import { unauthorized } from './challenge.js'
import { parseScopes, type Grant } from './token.js'

/** Token scope action -> the registry actions that justify granting it (any one suffices). */
const JUSTIFIES: Record<string, Action[]> = {
  pull: ['read'],
  push: ['create', 'update'],
  delete: ['delete'],
}

export async function issueToken(
  c: Context,
  access: Access,
  state: AccessState,
  identity: Identity,
): Promise<Response> {
  const token = state.settings.token
  if (!token) {
    throw new RegistryError('NOT_FOUND', 'no token realm is configured (http.auth.token)')
  }
  if (c.req.method !== 'GET' && c.req.method !== 'HEAD') {
    c.header('Allow', 'GET, HEAD')
    throw new RegistryError('UNSUPPORTED', `${c.req.method} is not supported on ${c.req.path}`)
  }
  // An anonymous client where anonymous clients may do nothing is asked to log in (docker login).
  if (identity.user === undefined && !state.policy.anonymousAllowed()) {
    throw unauthorized(c, { ...state.settings, token: undefined }, 'authentication required')
  }
  const granted = parseScopes(c.req.queries('scope') ?? [])
    .map((scope) => grant(scope, identity, access, state))
    .filter((g) => g.actions.length > 0)
  c.header('Cache-Control', 'no-store')
  return c.json(access.signer.issue(identity.user ?? '', token.service, granted, token.expiryMs))
}

function grant(scope: Grant, identity: Identity, access: Access, state: AccessState): Grant {
  if (scope.type === 'registry' && scope.name === 'catalog') {
    // The catalog lists only what the caller may read, so asking for it needs no right.
    return { ...scope, actions: scope.actions.filter((a) => a === '*') }
  }
  if (scope.type !== 'repository') return { ...scope, actions: [] }
  let repo: string
  try {
    repo = checkRepoName(scope.name)
  } catch {
    return { ...scope, actions: [] }
  }
  const wanted = scope.actions.includes('*') ? Object.keys(JUSTIFIES) : scope.actions
  const actions = wanted.filter((a) =>
    (JUSTIFIES[a] ?? []).some((action) =>
      access.permits({ user: identity.user }, repo, action, state),
    ),
  )
  return { type: 'repository', name: repo, actions: [...new Set(actions)] }
}
