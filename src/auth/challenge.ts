// The WWW-Authenticate challenges (RFC 7235; RFC 7617 for Basic; Docker's token specification
// for Bearer) and the refusals that carry them. Clients learn to send credentials only from a
// challenge, so GET /v2/ carries one even when it answers 200 (skopeo sends --dest-creds only then).
import type { Context } from 'hono'
import type { AccessSettings, Action } from '../config/auth.js'
import { RegistryError } from '../registry/index.js'

/** Where Outpost's token realm answers: under /v2/_outpost/, where no repository can live. */
export const TOKEN_PATH = '/v2/_outpost/token'

/** The Docker token scope actions a registry action needs. */
export function scopeActions(action: Action): string {
  if (action === 'read') return 'pull'
  if (action === 'delete') return 'delete'
  return 'pull,push'
}

function quoted(text: string): string {
  return `"${text.replace(/["\\]/g, '\\$&')}"`
}

/** The challenge for this request; a Bearer one names the scope the refused request needed. */
export function challenge(c: Context, settings: AccessSettings, scope?: string): string {
  if (!settings.token) return `Basic realm=${quoted(settings.realm)}, charset="UTF-8"`
  const realm = `${new URL(c.req.url).origin}${TOKEN_PATH}`
  const parts = [`Bearer realm=${quoted(realm)}`, `service=${quoted(settings.token.service)}`]
  if (scope) parts.push(`scope=${quoted(scope)}`)
  return parts.join(',')
}

/** 401 UNAUTHORIZED with the challenge (thrown: the app's error handler writes the OCI body). */
export function unauthorized(
  c: Context,
  settings: AccessSettings,
  message: string,
  scope?: string,
): RegistryError {
  c.header('WWW-Authenticate', challenge(c, settings, scope))
  return new RegistryError('UNAUTHORIZED', message)
}

export function denied(message: string): RegistryError {
  return new RegistryError('DENIED', message)
}
