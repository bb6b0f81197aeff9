// http.auth and http.accessControl in zot's shapes: htpasswd (bcrypt) logins, zot's failDelay,
// per-repository glob policies and the admin policy. Outpost's own additions: `http.auth.token`
// (Outpost acts as its own Docker token realm) and `accessControl.metrics.anonymous`. zot's other
// authentication sources (LDAP, OpenID, API keys, an external bearer realm) and user groups are
// recognised and refused with "not supported yet".
import { resolve } from 'node:path'
import { z } from 'zod'
import { parseDuration } from './duration.js'

const NOT_YET = 'not supported yet'

/** A zot key Outpost recognises but cannot honour: any value fails with the reason. */
const refused = (what: string, hint?: string) =>
  z.unknown().refine(() => false, { message: `${what} is ${NOT_YET}${hint ? ` (${hint})` : ''}` })

export const ACTIONS = ['read', 'create', 'update', 'delete'] as const
export type Action = (typeof ACTIONS)[number]

const action = z.enum(ACTIONS)
const users = z.array(z.string().min(1))

const expiry = z.string().refine(
  (s) => {
    try {
      const ms = parseDuration(s)
      return ms >= 1000 && ms <= 86_400_000
    } catch {
      return false
    }
  },
  { message: 'expected a Go duration between "1s" and "24h"' },
)

export const authSchema = z
  .strictObject({
    htpasswd: z.strictObject({ path: z.string().min(1) }).optional(),
    // zot's: seconds to wait before answering a failed login (slows password guessing).
    failDelay: z.number().int().min(0).max(60).optional(),
    // Outpost's own: act as a Docker token realm (GET /v2/_outpost/token) for htpasswd users.
    token: z
      .strictObject({ service: z.string().min(1).optional(), expiry: expiry.optional() })
      .optional(),
    bearer: refused('an external token realm (http.auth.bearer)', 'use http.auth.token').optional(),
    ldap: refused('LDAP authentication').optional(),
    openid: refused('OpenID authentication').optional(),
    apikey: z
      .boolean()
      .refine((v) => !v, { message: `API keys are ${NOT_YET}` })
      .optional(),
    sessionKeysFile: refused('sessionKeysFile').optional(),
    sessionDriver: refused('sessionDriver').optional(),
    secureSession: refused('secureSession').optional(),
  })
  .refine((a) => !a.token || a.htpasswd, {
    message: 'http.auth.token issues tokens to htpasswd users: it needs http.auth.htpasswd',
    path: ['token'],
  })

const policy = z.strictObject({
  users: users.optional(),
  actions: z.array(action),
  groups: refused('user groups').optional(),
})

const policyGroup = z.strictObject({
  policies: z.array(policy).optional(),
  defaultPolicy: z.array(action).optional(),
  anonymousPolicy: z.array(action).optional(),
})

export const accessControlSchema = z.strictObject({
  repositories: z.record(z.string().min(1), policyGroup).optional(),
  adminPolicy: z
    .strictObject({
      users: users.optional(),
      actions: z.array(action).optional(),
      groups: refused('user groups').optional(),
    })
    .optional(),
  // zot's metrics.users; `anonymous` is Outpost's own (metrics readable without credentials).
  metrics: z
    .strictObject({ users: users.optional(), anonymous: z.boolean().optional() })
    .optional(),
  groups: refused('user groups (accessControl.groups)').optional(),
})

export type RawAuth = z.infer<typeof authSchema>
export type RawAccessControl = z.infer<typeof accessControlSchema>

export interface PolicyGroupSettings {
  /** user -> actions granted by `policies` */
  users: Record<string, Action[]>
  defaultPolicy: Action[]
  anonymousPolicy: Action[]
}

export interface AccessControlSettings {
  /** glob -> its policies (zot's doublestar globs: `*` within a component, `**` across) */
  repositories: Record<string, PolicyGroupSettings>
  admins: string[]
  adminActions: Action[]
  /** who may read /metrics: undefined = any authenticated user */
  metricsUsers?: string[]
  metricsAnonymous: boolean
}

/** The resolved access settings: what SIGHUP can reload as one piece. */
export interface AccessSettings {
  /** the Basic realm (zot's http.realm) */
  realm: string
  /** absolute path of the htpasswd file; no logins without it */
  htpasswdPath?: string
  failDelayMs: number
  /** Outpost's own token realm, when configured */
  token?: { service: string; expiryMs: number }
  /** absent: authenticated users may do everything, anonymous users nothing (open without auth) */
  accessControl?: AccessControlSettings
}

export const DEFAULT_REALM = 'outpost'

export function resolveAccess(
  raw: { realm?: string; auth?: RawAuth; accessControl?: RawAccessControl } | undefined,
  cwd: string,
): AccessSettings {
  const auth = raw?.auth
  return {
    realm: raw?.realm || DEFAULT_REALM,
    ...(auth?.htpasswd && { htpasswdPath: resolve(cwd, auth.htpasswd.path) }),
    failDelayMs: (auth?.failDelay ?? 0) * 1000,
    ...(auth?.token && {
      token: {
        service: auth.token.service ?? 'outpost',
        expiryMs: parseDuration(auth.token.expiry ?? '5m'),
      },
    }),
    ...(raw?.accessControl && { accessControl: resolveAccessControl(raw.accessControl) }),
  }
}

/** `{access}` in the resolved http section, only when something about access is configured. */
export function accessSection(
  raw: { realm?: string; auth?: RawAuth; accessControl?: RawAccessControl } | undefined,
  cwd: string,
): { access?: AccessSettings } {
  if (!raw?.realm && !raw?.auth && !raw?.accessControl) return {}
  return { access: resolveAccess(raw, cwd) }
}

function resolveAccessControl(raw: RawAccessControl): AccessControlSettings {
  const repositories: Record<string, PolicyGroupSettings> = Object.create(null)
  for (const [glob, group] of Object.entries(raw.repositories ?? {})) {
    const byUser: Record<string, Action[]> = Object.create(null)
    for (const p of group.policies ?? []) {
      for (const user of p.users ?? []) byUser[user] = [...(byUser[user] ?? []), ...p.actions]
    }
    repositories[glob] = {
      users: byUser,
      defaultPolicy: group.defaultPolicy ?? [],
      anonymousPolicy: group.anonymousPolicy ?? [],
    }
  }
  return {
    repositories,
    admins: raw.adminPolicy?.users ?? [],
    adminActions: raw.adminPolicy?.actions ?? [],
    ...(raw.metrics?.users && { metricsUsers: raw.metrics.users }),
    metricsAnonymous: raw.metrics?.anonymous ?? false,
  }
}
