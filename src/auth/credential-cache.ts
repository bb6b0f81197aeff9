// Verified logins, remembered briefly so a client's every request does not pay a bcrypt compare
// (~0.2 s of CPU at cost 10; zot pays it on every request). Keyed by a SHA-256 of user and
// password, so the cache holds no password; bounded in size and age, and emptied whenever the
// htpasswd file changes, so a removed user or a changed password stops working at once.
import { createHash } from 'node:crypto'

export class CredentialCache {
  /** key -> { user, expires }; Map order is insertion order, so the first entry is the oldest */
  private readonly entries = new Map<string, { user: string; expires: number }>()

  constructor(
    private readonly maxEntries = 1024,
    private readonly ttlMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  static key(user: string, password: string): string {
    // NUL cannot occur in a Basic user name (RFC 7617 forbids control characters there).
    return createHash('sha256').update(`${user}\0${password}`).digest('base64')
  }

  /** The user a key was verified for, while fresh. */
  get(key: string): string | undefined {
    const hit = this.entries.get(key)
    if (!hit) return undefined
    if (hit.expires <= this.now()) {
      this.entries.delete(key)
      return undefined
    }
    return hit.user
  }

  set(key: string, user: string): void {
    this.entries.delete(key)
    while (this.entries.size >= this.maxEntries) {
      this.entries.delete(this.entries.keys().next().value as string)
    }
    this.entries.set(key, { user, expires: this.now() + this.ttlMs })
  }

  clear(): void {
    this.entries.clear()
  }

  get size(): number {
    return this.entries.size
  }
}
