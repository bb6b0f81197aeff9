// The engine's index: LMDB through lmdb-js at <root>/_outpost/index. It only accelerates; the
// layout is the truth (docs/architecture.md §5.7). An index that cannot be opened is moved aside and
// a fresh one starts empty, to be refilled lazily and by a background pass.
import { mkdtemp, rename, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { open, type RootDatabase } from 'lmdb'
import { makeDirs } from '../util/durable-fs.js'
import { probeIndex } from './probe.js'
import type { ContentIndex, ContentRecord } from './content-index.js'
import type {
  LedgerBlobRecord,
  LedgerImageRecord,
  PullLedgerRecords,
} from './pull-ledger-records.js'
import type { RepoSummaryRecord, RepoSummaryRecords } from './repo-summary-records.js'

/** A referrer as the referrers API lists it (image-spec descriptor). */
export interface ReferrerRecord {
  mediaType: string
  digest: string
  size: number
  artifactType?: string
  annotations?: Record<string, string>
}

export interface VerifiedRecord {
  size: number
  /** the run (clean-shutdown epoch) in which the bytes were last hashed */
  epoch: string
}

/** A repository holding a blob: when it entered the repository (for GC's gcDelay) and its size. */
export interface HolderRecord {
  size: number
  /** wall and monotonic time with the boot they belong to (see src/util/clock.ts) */
  entered: { wall: number; mono: number; boot: string }
}

export interface SessionRecord {
  repo: string
  createdAt: number
  /** last activity, as a clock stamp (see src/util/clock.ts): idle time survives clock jumps */
  touched?: { wall: number; mono: number; boot: string }
}

export interface EngineDbOptions {
  /** absolute directory of the LMDB environment */
  path: string
  /** sync every commit (zot's `commit`); off means LMDB makes no fsync calls */
  commit: boolean
  log?: (msg: string, fields?: Record<string, unknown>) => void
}

/**
 * The shape of the records below, stored under the key `version`. A build that changes a record's
 * key or value raises it. An index of any other version was written by another build (a newer
 * one, before a downgrade): its records would be misread, and it is a cache, so it is dropped and
 * rebuilt from the layout.
 */
export const INDEX_VERSION = 1

/** How long lmdb-js gathers writes before it commits them as one transaction. */
const COMMIT_DELAY_MS = 5

// Keys are strings joined with U+001F, which no repository name, digest or session id contains,
// so a prefix range never spills into a neighbour.
const SEP = '\x1f'
const END = '\uffff'

export class EngineDb {
  private constructor(
    private readonly db: RootDatabase,
    /** true when this environment was created empty (first start, or after losing the old one) */
    readonly fresh: boolean,
    private readonly log?: EngineDbOptions['log'],
  ) {}

  /**
   * A write nobody waits for: the index answers its own pending writes at once (read, scan),
   * and every record here is a cache of the layout (docs/architecture.md §5.7), so a write lost to
   * a crash or a failed commit costs a re-hash, a re-index or a session, never data. Waiting
   * would hold a repository lock, or a loop over every blob, for a commit. A failure is logged.
   */
  background(write: Promise<unknown>): void {
    write.catch((err: unknown) => this.log?.('engine index write failed', { error: String(err) }))
  }

  /**
   * Writes issued but not yet committed. lmdb-js makes a put visible to get() only once its
   * transaction commits (a batch, a millisecond or so later); answering from here meanwhile lets
   * a caller read its own write without waiting for the commit — which matters under a
   * repository lock, where every wait holds up the other pushes to that repository.
   */
  private readonly pending = new Map<string, { value: unknown }>()

  private write(key: string, value: unknown): Promise<boolean> {
    if (this.readOnly) throw new Error(`the engine index is open read-only (writing ${key})`)
    const entry = { value }
    this.pending.set(key, entry)
    const done = value === undefined ? this.db.remove(key) : this.db.put(key, value)
    const settle = () => {
      if (this.pending.get(key) === entry) this.pending.delete(key)
    }
    done.then(settle, settle)
    return done
  }

  private read(key: string): unknown {
    const entry = this.pending.get(key)
    return entry ? entry.value : this.db.get(key)
  }

  /** What a range scan from `start` found, with the writes still pending applied over it. */
  private *scan(start: string): Iterable<{ key: string; value: unknown }> {
    const found = new Map<string, unknown>()
    for (const { key, value } of this.db.getRange({ start, end: start + END })) {
      found.set(String(key), value)
    }
    for (const [key, entry] of this.pending) {
      if (!key.startsWith(start)) continue
      if (entry.value === undefined) found.delete(key)
      else found.set(key, entry.value)
    }
    for (const [key, value] of found) yield { key, value }
  }

  static async open(options: EngineDbOptions): Promise<EngineDb> {
    await makeDirs(options.path, options.commit)
    const attempt = () =>
      open({
        path: options.path,
        compression: false,
        // Small start for 32-bit boards; lmdb-js grows the map when it fills.
        mapSize: 64 * 1024 * 1024,
        noSync: !options.commit,
        noMetaSync: !options.commit,
        // Gather a few milliseconds of writes into one transaction: a push writes several
        // records per blob, and a commit per event-loop turn measured ~9% more server CPU per
        // small image (and, with commit, more fsyncs). Readers see pending writes at once (read,
        // scan); callers await a write only where a range read must see it.
        commitDelay: COMMIT_DELAY_MS,
      })
    const moveAside = async (reason: string) => {
      const aside = `${options.path}.broken-${Date.now()}`
      options.log?.('index unopenable; moved aside and rebuilding', { aside, reason })
      await rename(options.path, aside)
      await makeDirs(options.path, options.commit)
    }
    if (!(await probeIndex(options.path))) await moveAside('probe process failed to read it')
    let db: RootDatabase
    try {
      db = attempt()
      db.get('version') // touch the environment so corruption shows now, not on a request
    } catch (err) {
      await moveAside(String(err))
      db = attempt()
    }
    const version = db.get('version')
    if (version !== undefined && version !== INDEX_VERSION) {
      options.log?.('engine index written by another version of Outpost; rebuilding it', {
        version,
        supported: INDEX_VERSION,
      })
      await db.close()
      await rm(options.path, { recursive: true, force: true })
      await makeDirs(options.path, options.commit)
      db = attempt()
    }
    const fresh = db.get('version') === undefined
    if (fresh) await db.put('version', INDEX_VERSION)
    return new EngineDb(db, fresh, options.log)
  }

  /**
   * A view that never writes the environment at `path` (gc --dry-run, which may run beside the
   * server that owns it: LMDB readers in other processes are safe, MVCC). Nothing is moved
   * aside or initialised; an index that fails the probe is an error. Where there is no index
   * yet, an empty scratch one in the temporary directory stands in (every record absent, as
   * the real pass would find them), removed on close. Writing to the view throws.
   */
  static async openReadOnly(path: string): Promise<EngineDb> {
    if (!(await stat(join(path, 'data.mdb')).catch(() => null))) {
      const scratch = await mkdtemp(join(tmpdir(), 'outpost-index-view-'))
      const db = await EngineDb.open({ path: scratch, commit: false })
      db.readOnly = true
      db.onClose = () => rm(scratch, { recursive: true, force: true })
      return db
    }
    if (!(await probeIndex(path))) throw new Error(`the engine index at ${path} cannot be read`)
    const db = new EngineDb(open({ path, compression: false, readOnly: true }), false)
    db.readOnly = true
    return db
  }

  /** set by openReadOnly: every write is refused */
  private readOnly = false

  /** false for a view from openReadOnly */
  get writable(): boolean {
    return !this.readOnly
  }
  private onClose?: () => Promise<void>

  async close(): Promise<void> {
    await this.db.close()
    await this.onClose?.()
  }

  // --- blobs whose bytes were hashed in a given run -------------------------------------------
  getVerified(blobKey: string): VerifiedRecord | undefined {
    return this.read(`v${SEP}${blobKey}`) as VerifiedRecord | undefined
  }

  setVerified(blobKey: string, record: VerifiedRecord): Promise<boolean> {
    return this.write(`v${SEP}${blobKey}`, record)
  }

  deleteVerified(blobKey: string): Promise<boolean> {
    return this.write(`v${SEP}${blobKey}`, undefined)
  }

  // --- subject -> referrers (distribution-spec "Listing Referrers") ---------------------------
  private referrerPrefix(repo: string, subject: string): string {
    return `r${SEP}${repo}${SEP}${subject}${SEP}`
  }

  putReferrer(repo: string, subject: string, record: ReferrerRecord): Promise<boolean> {
    return this.db.put(this.referrerPrefix(repo, subject) + record.digest, record)
  }

  deleteReferrer(repo: string, subject: string, digest: string): Promise<boolean> {
    return this.db.remove(this.referrerPrefix(repo, subject) + digest)
  }

  referrers(repo: string, subject: string): ReferrerRecord[] {
    const start = this.referrerPrefix(repo, subject)
    const out: ReferrerRecord[] = []
    for (const { value } of this.db.getRange({ start, end: start + END })) {
      out.push(value as ReferrerRecord)
    }
    return out
  }

  /** Drop every referrer record of a repository before re-indexing it. */
  async clearReferrers(repo: string): Promise<void> {
    const start = `r${SEP}${repo}${SEP}`
    const keys = [...this.db.getKeys({ start, end: start + END })]
    await this.db.transaction(() => {
      for (const key of keys) this.db.remove(key)
    })
  }

  // --- per-repository facts (e.g. which index.json state the referrers were built from) -------
  getRepoFact<T>(repo: string, fact: string): T | undefined {
    return this.read(`f${SEP}${repo}${SEP}${fact}`) as T | undefined
  }

  setRepoFact(repo: string, fact: string, value: unknown): Promise<boolean> {
    return this.write(`f${SEP}${repo}${SEP}${fact}`, value)
  }

  // --- digest -> repositories holding it (dedupe sources, GC ages) -----------------------------
  putHolder(digest: string, repo: string, record: HolderRecord): Promise<boolean> {
    return this.write(`h${SEP}${digest}${SEP}${repo}`, record)
  }

  getHolder(digest: string, repo: string): HolderRecord | undefined {
    return this.read(`h${SEP}${digest}${SEP}${repo}`) as HolderRecord | undefined
  }

  deleteHolder(digest: string, repo: string): Promise<boolean> {
    return this.write(`h${SEP}${digest}${SEP}${repo}`, undefined)
  }

  holders(digest: string): Array<[string, HolderRecord]> {
    const start = `h${SEP}${digest}${SEP}`
    const out: Array<[string, HolderRecord]> = []
    for (const { key, value } of this.scan(start)) {
      out.push([key.slice(start.length), value as HolderRecord])
    }
    return out
  }

  // --- content kept once by reference (src/dedupe/shared-content.ts) -------------------------
  /** The content index in this LMDB environment (cacheDriver left out). */
  contentIndex(): ContentIndex {
    const key = (digest: string) => `c${SEP}${digest}`
    return {
      get: async (digest) => this.db.get(key(digest)) as ContentRecord | undefined,
      put: async (digest, record) => void (await this.db.put(key(digest), record)),
      delete: async (digest) => void (await this.db.remove(key(digest))),
    }
  }

  // --- engine-wide facts (progress of background passes) ---------------------------------------
  getMeta<T>(name: string): T | undefined {
    return this.db.get(`m${SEP}${name}`) as T | undefined
  }

  setMeta(name: string, value: unknown): Promise<boolean> {
    return this.db.put(`m${SEP}${name}`, value)
  }

  // --- content the periodic mirror put in a repository (pinned: pull-through never evicts it) ---
  // Unlike the rest of this index, not a cache of the layout: a lost record makes mirrored
  // content count as pulled-through again until the next mirror pass pins it anew.
  putPin(repo: string, digest: string): Promise<boolean> {
    return this.write(`p${SEP}${repo}${SEP}${digest}`, 1)
  }

  isPinned(repo: string, digest: string): boolean {
    return this.read(`p${SEP}${repo}${SEP}${digest}`) !== undefined
  }

  // --- the pull-through cache's ledger (src/engine-db/pull-ledger-records.ts) -------------------
  // Kinds `lb` (blob) and `li` (image), and the meta `pull-ledger`: an older build ignores them.
  pullLedgerRecords(): PullLedgerRecords {
    const key = (kind: string, repo: string, digest: string) =>
      `${kind}${SEP}${repo}${SEP}${digest}`
    const mark = `m${SEP}pull-ledger`
    const scan = <T>(kind: string) =>
      [...this.scan(`${kind}${SEP}`)].map(({ key, value }) => {
        const [, repo, digest] = key.split(SEP)
        return { ...(value as object), repo, digest } as T
      })
    return {
      complete: () => this.read(mark) !== undefined,
      clear: async () => {
        await this.write(mark, undefined)
        const keys = [`lb${SEP}`, `li${SEP}`].flatMap((start) => [
          ...this.db.getKeys({ start, end: start + END }),
        ])
        await this.db.transaction(() => {
          for (const k of keys) this.db.remove(k)
        })
      },
      markComplete: () => this.background(this.write(mark, 1)),
      putBlob: ({ repo, digest, size, lastUsed }) =>
        this.background(this.write(key('lb', repo, digest), { size, lastUsed })),
      putImage: ({ repo, digest, parts, lastUsed }) =>
        this.background(this.write(key('li', repo, digest), { parts, lastUsed })),
      deleteBlob: (repo, digest) => this.background(this.write(key('lb', repo, digest), undefined)),
      deleteImage: (repo, digest) =>
        this.background(this.write(key('li', repo, digest), undefined)),
      blobs: () => scan<LedgerBlobRecord>('lb'),
      images: () => scan<LedgerImageRecord>('li'),
    }
  }

  // --- what the operator's page lists (src/engine-db/repo-summary-records.ts) -----------------
  // Kind `u` and the meta `repo-summaries`: an older build ignores them.
  repoSummaryRecords(): RepoSummaryRecords {
    const key = (repo: string) => `u${SEP}${repo}`
    const mark = `m${SEP}repo-summaries`
    const db = this.db
    return {
      get: (repo) => this.read(key(repo)) as RepoSummaryRecord | undefined,
      put: (record) => this.write(key(record.repo), record),
      delete: (repo) => this.write(key(repo), undefined),
      *names(after) {
        const start = `u${SEP}`
        const from = after === undefined ? start : `${key(after)}\0`
        for (const k of db.getKeys({ start: from, end: start + END })) {
          yield String(k).slice(start.length)
        }
      },
      complete: () => this.read(mark) !== undefined,
      markComplete: () => this.write(mark, 1),
    }
  }

  // --- upload sessions --------------------------------------------------------------------------
  putSession(id: string, record: SessionRecord): Promise<boolean> {
    return this.write(`s${SEP}${id}`, record)
  }

  getSession(id: string): SessionRecord | undefined {
    return this.read(`s${SEP}${id}`) as SessionRecord | undefined
  }

  deleteSession(id: string): Promise<boolean> {
    return this.write(`s${SEP}${id}`, undefined)
  }

  /** Every upload-session record (tests and diagnostics check that none is left behind). */
  *sessions(): Iterable<[string, SessionRecord]> {
    const start = `s${SEP}`
    for (const { key, value } of this.scan(start)) {
      yield [key.slice(start.length), value as SessionRecord]
    }
  }

  /** Resolves once every write issued so far is committed (and synced, with commit). */
  flushed(): Promise<boolean> {
    return this.db.flushed
  }
}
