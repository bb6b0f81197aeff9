// Who is looking at the operator's page (src/ui/): the page lives outside /v2/, so the access
// middleware does not see it; this asks the same questions. A browser can only answer a Basic
// challenge (RFC 7617), so the page always sends one, with the registry's realm, even where the
// registry itself hands out Bearer tokens (those users log in with the same htpasswd names).
import type { Context } from 'hono'
import { RegistryError } from '../registry/index.js'
import type { Access } from './access.js'

export interface Viewer {
  /** undefined: anonymous, or no logins configured */
  user?: string
  /** may see the admin sections (storage, background work, health) */
  admin: boolean
  /** whether the viewer may read (pull) `repo` */
  canRead(repo: string): boolean
}

const EVERYONE: Viewer = { admin: true, canRead: () => true }

/**
 * The viewer of a page request. Throws 401 UNAUTHORIZED with a Basic challenge when credentials
 * are wrong, or missing where anonymous users may do nothing.
 */
export async function pageViewer(c: Context, access: Access | undefined): Promise<Viewer> {
  if (!access) return EVERYONE
  const state = access.state
  if (state.policy.unrestricted) return EVERYONE
  const identity = await access.identify(c, state)
  const refuse = (message: string) => {
    c.header('WWW-Authenticate', `Basic realm="${state.settings.realm.replace(/["\\]/g, '\\$&')}"`)
    return new RegistryError('UNAUTHORIZED', message)
  }
  if (identity.invalid) {
    if (identity.invalid === 'password') await access.failDelay(state)
    throw refuse('invalid user name or password')
  }
  if (identity.user === undefined && !state.policy.anonymousAllowed() && state.htpasswd) {
    throw refuse('authentication required')
  }
  return {
    user: identity.user,
    admin: state.policy.isAdmin(identity.user),
    canRead: (repo) => access.permits(identity, repo, 'read', state),
  }
}
