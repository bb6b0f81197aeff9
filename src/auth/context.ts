// What authentication leaves on the Hono context for the rest of the app: the user (audit lines
// read `c.get('user')`), and a permission check the catalog and cross-repository mounts ask.
// Declared on Hono's ContextVariableMap so any handler can read them, typed, without threading.
import type { Context } from 'hono'
import type { Action } from '../config/auth.js'
import type { Access } from './access.js'

export interface Permissions {
  /** whether the request's caller may do `action` on `repo` */
  can(repo: string, action: Action): boolean
}

declare module 'hono' {
  interface ContextVariableMap {
    /** the authenticated user name; undefined for anonymous requests and when auth is off */
    user: string | undefined
    /** set on /v2/ requests by the access middleware */
    permissions: Permissions | undefined
    /** the access state serving this request */
    access: Access | undefined
  }
}

/** Whether the caller may read `repo` (always, when no access middleware is installed). */
export function mayRead(c: Context, repo: string): boolean {
  const permissions = c.get('permissions')
  return !permissions || permissions.can(repo, 'read')
}
