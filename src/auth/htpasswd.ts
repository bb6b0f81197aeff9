// The htpasswd file (zot's http.auth.htpasswd.path): `user:hash` lines with bcrypt hashes as
// `htpasswd -B` writes them ($2y$, and $2a$/$2b$ from other tools). The file is re-read when it
// changes: at most once a second a stat compares inode, size and mtime (cheap), and only a
// change reads and parses the file again and empties the credential cache.
import { readFile, stat } from 'node:fs/promises'
import { CredentialCache } from './credential-cache.js'

/** bcrypt as the crypt(3) family writes it: $2a$, $2b$ or $2y$, a cost, 53 characters. */
const BCRYPT = /^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/

/** Compared against for unknown users, so a missing user costs the same time as a wrong password. */
const DUMMY_HASH = '$2b$10$F8wYA8OmExJpcgqrHV.SuO/xXu10hjMvaYubch.IF.hDInJXV.29a'

type Log = (msg: string, fields?: Record<string, unknown>) => void

interface FileStamp {
  ino: number
  size: number
  mtimeMs: number
}

export class Htpasswd {
  /** bcrypt compares made so far (tests and the bench count them) */
  compares = 0
  private hashes = new Map<string, string>()
  private stamp: FileStamp | undefined
  private checkedAt = 0
  private checking: Promise<void> | undefined
  private readonly cache = new CredentialCache()
  /** compares under way, so a burst of requests with the same credentials pays one */
  private readonly pending = new Map<string, Promise<boolean>>()

  private constructor(
    readonly path: string,
    private readonly log: Log,
    private readonly checkIntervalMs: number,
  ) {}

  /** Read the file; a file that cannot be read stops the start (or the reload). */
  static async open(path: string, log: Log, checkIntervalMs = 1000): Promise<Htpasswd> {
    const file = new Htpasswd(path, log, checkIntervalMs)
    await file.reload()
    return file
  }

  get users(): number {
    return this.hashes.size
  }

  /** Whether `password` is `user`'s: from the cache when verified recently, else by bcrypt. */
  async verify(user: string, password: string): Promise<boolean> {
    if (Date.now() - this.checkedAt >= this.checkIntervalMs) await this.refresh()
    const key = CredentialCache.key(user, password)
    if (this.cache.get(key) === user) return true
    const running = this.pending.get(key)
    if (running) return running
    const hashes = this.hashes
    const check = this.compare(password, hashes.get(user))
      .then((ok) => {
        // Only a verdict on the file as it still is may be cached.
        if (ok && this.hashes === hashes) this.cache.set(key, user)
        return ok
      })
      .finally(() => this.pending.delete(key))
    this.pending.set(key, check)
    return check
  }

  /** Re-read the file now (SIGHUP); throws when it cannot be read. */
  async reload(): Promise<void> {
    const info = await stat(this.path)
    this.load(await readFile(this.path, 'utf8'), info)
  }

  private async compare(password: string, hash: string | undefined): Promise<boolean> {
    this.compares++
    // bcryptjs is loaded with the first login, not by every server (most run without one).
    const { compare } = await import('bcryptjs')
    const ok = await compare(password, hash ?? DUMMY_HASH)
    return ok && hash !== undefined
  }

  /** Stat the file and re-read it when it changed; one check at a time. */
  private refresh(): Promise<void> {
    this.checking ??= (async () => {
      try {
        const info = await stat(this.path)
        const s = this.stamp
        if (!s || s.ino !== info.ino || s.size !== info.size || s.mtimeMs !== info.mtimeMs) {
          this.load(await readFile(this.path, 'utf8'), info)
          this.log('htpasswd file re-read', { path: this.path, users: this.hashes.size })
        }
      } catch (err) {
        // Keep serving the last good file: a half-done edit must not lock everyone out.
        this.log('htpasswd file unreadable, keeping the last one read', {
          path: this.path,
          error: (err as Error).message,
        })
      } finally {
        this.checkedAt = Date.now()
        this.checking = undefined
      }
    })()
    return this.checking
  }

  private load(text: string, info: FileStamp): void {
    const hashes = new Map<string, string>()
    text.split(/\r?\n/).forEach((line, i) => {
      if (line.trim() === '' || line.startsWith('#')) return
      const colon = line.indexOf(':')
      const user = line.slice(0, colon)
      const hash = line.slice(colon + 1).trim()
      if (colon <= 0 || !BCRYPT.test(hash)) {
        this.log('htpasswd line ignored: only bcrypt hashes (htpasswd -B) are accepted', {
          path: this.path,
          line: i + 1,
          ...(colon > 0 && { user }),
        })
        return
      }
      hashes.set(user, hash)
    })
    this.hashes = hashes
    this.stamp = { ino: info.ino, size: info.size, mtimeMs: info.mtimeMs }
    this.checkedAt = Date.now()
    this.cache.clear()
  }
}
