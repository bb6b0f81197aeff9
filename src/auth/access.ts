// The authentication and access-control state as one object: built from the resolved http
// settings at start, swapped whole by reload() (SIGHUP), consulted by the middleware (gate.ts),
// the token realm and the /metrics route. A request keeps the state it started with.
import type { Context } from 'hono'
import type { AccessSettings, Action } from '../config/auth.js'
import { resolveAccess } from '../config/auth.js'
import { errorReply } from '../api/errors.js'
import { RegistryError } from '../registry/index.js'
import { challenge, denied, scopeActions } from './challenge.js'
import { Htpasswd } from './htpasswd.js'
import { AccessPolicy } from './policy.js'
import { TokenSigner, type TokenClaims } from './token.js'

type Log = (msg: string, fields?: Record<string, unknown>) => void

/** Who a request's credentials name. */
export interface Identity {
  /** undefined: anonymous */
  user?: string
  /** the Bearer token presented, when one was */
  token?: TokenClaims
  /** credentials were sent and are wrong: 'password' (failDelay applies) or 'token' */
  invalid?: 'password' | 'token'
}

export interface AccessState {
  settings: AccessSettings
  policy: AccessPolicy
  htpasswd?: Htpasswd
}

const ANONYMOUS: Identity = {}

export class Access {
  readonly signer = new TokenSigner()

  private constructor(
    private current: AccessState,
    private readonly log: Log,
  ) {}

  /** Read the htpasswd file (a missing one stops the start); no settings: open to all. */
  static async open(settings: AccessSettings | undefined, log: Log): Promise<Access> {
    return new Access(await build(settings ?? resolveAccess(undefined, '/'), log), log)
  }

  get state(): AccessState {
    return this.current
  }

  /**
   * Apply new http settings (SIGHUP): the resolved `http` section of a freshly loaded config.
   * Throws, keeping the running state, when the new htpasswd file cannot be read.
   */
  async reload(http: { access?: AccessSettings }): Promise<void> {
    const settings = http.access ?? resolveAccess(undefined, '/')
    const old = this.current.htpasswd
    const reused = old && old.path === settings.htpasswdPath ? old : undefined
    if (reused) await reused.reload()
    this.current = await build(settings, this.log, reused)
  }

  /** bcrypt compares made so far (the credential cache keeps this low; tests count them) */
  get compares(): number {
    return this.current.htpasswd?.compares ?? 0
  }

  /** The identity behind a request's Authorization header. */
  async identify(c: Context, state = this.current): Promise<Identity> {
    const header = c.req.header('authorization')
    // Without logins, credentials are ignored: an open registry serves clients that send them.
    if (!header || !state.htpasswd) return ANONYMOUS
    const space = header.indexOf(' ')
    const scheme = header.slice(0, space).toLowerCase()
    const value = header.slice(space + 1).trim()
    if (scheme === 'basic') {
      const text = Buffer.from(value, 'base64').toString('utf8')
      const colon = text.indexOf(':')
      if (colon < 0) return { invalid: 'password' }
      const user = text.slice(0, colon)
      const password = text.slice(colon + 1)
      // Empty Basic credentials mean anonymous (skopeo sends them when it has none).
      if (user === '' && password === '') return ANONYMOUS
      return (await state.htpasswd.verify(user, password)) ? { user } : { invalid: 'password' }
    }
    if (scheme === 'bearer' && state.settings.token) {
      const claims = this.signer.verify(value, state.settings.token.service)
      if (!claims) return { invalid: 'token' }
      return { ...(claims.sub !== '' && { user: claims.sub }), token: claims }
    }
    return { invalid: 'password' }
  }

  /** Whether `identity` may do `action` on `repo`: the policy, and the token's scopes if any. */
  permits(identity: Identity, repo: string, action: Action, state = this.current): boolean {
    if (!state.policy.can(identity.user, repo, action)) return false
    return !identity.token || tokenAllows(identity.token, repo, action)
  }

  /** For the /metrics route: whether this identity may read the metrics. */
  canSeeMetrics(identity: Identity): boolean {
    return !identity.invalid && this.current.policy.canSeeMetrics(identity.user)
  }

  /** The refusal for a /metrics request (401 with a challenge, or 403), or undefined to serve. */
  async metricsRefusal(c: Context): Promise<Response | undefined> {
    const state = this.current
    const identity = await this.identify(c, state)
    if (identity.invalid === 'password') await this.failDelay(state)
    if (this.canSeeMetrics(identity)) return undefined
    if (identity.user !== undefined && !identity.invalid) {
      const reply = errorReply(denied(`${identity.user} may not read the metrics`))
      return c.json(reply.body, 403)
    }
    const reply = errorReply(new RegistryError('UNAUTHORIZED', 'authentication required'))
    return c.json(reply.body, 401, { 'WWW-Authenticate': challenge(c, state.settings) })
  }

  /** zot's failDelay: a failed login is answered only after this wait. */
  failDelay(state = this.current): Promise<void> {
    const ms = state.settings.failDelayMs
    return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve()
  }
}

async function build(settings: AccessSettings, log: Log, reuse?: Htpasswd): Promise<AccessState> {
  const htpasswd =
    reuse ?? (settings.htpasswdPath ? await Htpasswd.open(settings.htpasswdPath, log) : undefined)
  return {
    settings,
    htpasswd,
    policy: new AccessPolicy(settings.accessControl, htpasswd !== undefined),
  }
}

/** Whether a token's `access` claim covers `action` on repository `repo`. */
function tokenAllows(token: TokenClaims, repo: string, action: Action): boolean {
  const needed = scopeActions(action).split(',').pop()!
  return token.access.some(
    (g) =>
      g.type === 'repository' &&
      g.name === repo &&
      (g.actions.includes(needed) || g.actions.includes('*')),
  )
}
