// Public face of authentication and access control (issue 7, "Access"): htpasswd logins with a
// credential cache, Outpost's own token realm, zot's accessControl policies.
import type { Context } from 'hono'
import './context.js'

export { Access, type Identity } from './access.js'
export { accessMiddleware, REPOSITORIES_PATH } from './gate.js'
export { pageViewer, type Viewer } from './viewer.js'
export { mayRead, type Permissions } from './context.js'
export { TOKEN_PATH } from './challenge.js'

/**
 * For the /metrics route: the refusal to send (401 with a challenge, or 403), or undefined when
 * the caller may read the metrics (always, when no access middleware is installed).
 */
export async function metricsRefusal(c: Context): Promise<Response | undefined> {
  return c.get('access')?.metricsRefusal(c)
}
