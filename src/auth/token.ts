// Outpost's own token realm (Docker's token authentication specification): short-lived tokens
// shaped as JWTs (HS256) signed with a key generated at start, so they need no key management
// and a restart simply makes clients fetch new ones. A token names its user and the scopes it
// grants (`access`: [{type, name, actions}]); every request is still checked against the
// current policy, so a reload that takes a right away takes effect before the token expires.
import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto'

/** One entry of a token's `access` claim. */
export interface Grant {
  type: string
  name: string
  actions: string[]
}

export interface TokenClaims {
  /** '' for an anonymous token */
  sub: string
  aud: string
  exp: number
  access: Grant[]
}

const HEADER = base64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))

function base64url(text: string | Buffer): string {
  return Buffer.from(text).toString('base64url')
}

export class TokenSigner {
  private readonly key = randomBytes(32)
  /** tokens issued so far */
  issued = 0

  /** A signed token and the token-spec response fields that carry it. */
  issue(sub: string, service: string, access: Grant[], expiryMs: number, now = Date.now()) {
    const iat = Math.floor(now / 1000)
    const expiresIn = Math.max(1, Math.floor(expiryMs / 1000))
    const claims = {
      iss: 'outpost',
      sub,
      aud: service,
      iat,
      nbf: iat,
      exp: iat + expiresIn,
      jti: randomUUID(),
      access,
    }
    const body = `${HEADER}.${base64url(JSON.stringify(claims))}`
    const token = `${body}.${this.sign(body)}`
    this.issued++
    return {
      token,
      access_token: token,
      expires_in: expiresIn,
      issued_at: new Date(iat * 1000).toISOString(),
    }
  }

  /** The claims of a token this process signed for `service`, while unexpired; else undefined. */
  verify(token: string, service: string, now = Date.now()): TokenClaims | undefined {
    const parts = token.split('.')
    if (parts.length !== 3 || parts[0] !== HEADER) return undefined
    const expected = Buffer.from(this.sign(`${parts[0]}.${parts[1]}`))
    const given = Buffer.from(parts[2])
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined
    let claims: TokenClaims
    try {
      claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as TokenClaims
    } catch {
      return undefined
    }
    if (claims.aud !== service || !(claims.exp * 1000 > now)) return undefined
    return claims
  }

  private sign(text: string): string {
    return createHmac('sha256', this.key).update(text).digest('base64url')
  }
}

/**
 * The scopes a client asked for: `scope` may repeat and may hold several space-separated
 * `type:name:actions` entries; a name may itself contain ':' (a port), so the actions follow the
 * last ':'.
 */
export function parseScopes(scopes: string[]): Grant[] {
  const out: Grant[] = []
  for (const scope of scopes.flatMap((s) => s.split(' ')).filter(Boolean)) {
    const first = scope.indexOf(':')
    const last = scope.lastIndexOf(':')
    if (first <= 0 || last === first) continue
    out.push({
      type: scope.slice(0, first),
      name: scope.slice(first + 1, last),
      actions: scope
        .slice(last + 1)
        .split(',')
        .filter(Boolean),
    })
  }
  return out
}
