// Who may do what (zot's http.accessControl). A repository is governed by the longest glob that
// matches its name (zot's rule: the most specific pattern wins); within it a user gets the
// actions of every policy naming them, the defaultPolicy (any authenticated user) and the
// anonymousPolicy (a logged-in user may always do what an anonymous one may: a deliberate
// difference from zot, where logging in could lose rights). adminPolicy users get its actions on
// every repository and alone may use the maintenance endpoints.
// Without accessControl: with logins configured, any authenticated user may do everything and
// anonymous users nothing; without logins, everyone everything.
import type { AccessControlSettings, Action, PolicyGroupSettings } from '../config/auth.js'
import { globToRegExp } from '../util/glob.js'

interface CompiledGroup extends PolicyGroupSettings {
  glob: string
  regex: RegExp
}

export class AccessPolicy {
  private readonly groups: CompiledGroup[]

  constructor(
    private readonly control: AccessControlSettings | undefined,
    /** whether anyone can log in (an htpasswd file is configured) */
    readonly logins: boolean,
  ) {
    this.groups = Object.entries(control?.repositories ?? {})
      .map(([glob, group]) => ({ ...group, glob, regex: globToRegExp(glob) }))
      // Longest first, so the first match is the most specific; ties in a stable order.
      .sort((a, b) => b.glob.length - a.glob.length || (a.glob < b.glob ? -1 : 1))
  }

  /** Whether `user` (undefined: anonymous) may do `action` on `repo`. */
  can(user: string | undefined, repo: string, action: Action): boolean {
    if (!this.control) return user !== undefined || !this.logins
    if (user !== undefined && this.isAdmin(user) && this.control.adminActions.includes(action)) {
      return true
    }
    const group = this.groups.find((g) => g.regex.test(repo))
    if (!group) return false
    if (group.anonymousPolicy.includes(action)) return true
    if (user === undefined) return false
    if (group.defaultPolicy.includes(action)) return true
    return Object.hasOwn(group.users, user) && group.users[user].includes(action)
  }

  /** No logins and no accessControl: everyone may do everything (the default registry). */
  get unrestricted(): boolean {
    return !this.control && !this.logins
  }

  isAdmin(user: string | undefined): boolean {
    if (user === undefined) return !this.logins && !this.control
    if (!this.control) return true
    return this.control.admins.includes(user)
  }

  /** Whether an anonymous client may do anything at all (then GET /v2/ answers 200). */
  anonymousAllowed(): boolean {
    if (!this.control) return !this.logins
    return this.groups.some((g) => g.anonymousPolicy.length > 0)
  }

  /**
   * Who may read /metrics: everyone without logins; with logins, accessControl.metrics.users
   * (and admins) when listed, else any authenticated user; anonymous clients only with
   * accessControl.metrics.anonymous.
   */
  canSeeMetrics(user: string | undefined): boolean {
    if (!this.logins) return true
    if (this.control?.metricsAnonymous) return true
    if (user === undefined) return false
    const listed = this.control?.metricsUsers
    return !listed || listed.includes(user) || this.control!.admins.includes(user)
  }
}
