// Blob upload sessions (distribution-spec "Pushing blobs"): POST opens one, PATCH appends
// (streamed, or chunked with Content-Range), PUT ?digest= closes it. The bytes live in
// <repo>/.uploads/<id>; the running hash lives in memory and is rebuilt from that file after a
// restart or a failed request, so the digest is known when the last byte lands. A session is
// its engine-index record until its first bytes arrive, and a small blob pushed in one request
// (the closing PUT of an empty session, or POST ?digest=) never touches the staging area: it is
// read whole, checked and stored in one atomic put.
import { randomUUID, type Hash } from 'node:crypto'
import { Readable } from 'node:stream'
import { layoutKeys } from '../layout/index.js'
import { Digest, newHash, type Algorithm } from './digest.js'
import { RegistryError } from './errors.js'
import { hashStored, hashStream, type HashingTap } from './hashing.js'
import { KeyedLock } from '../util/keyed-lock.js'
import { ageMs, stampNow } from '../util/clock.js'
import { checkSessionId } from './names.js'
import { readWhole } from './read-whole.js'
import { isStorageFull } from './space-guard.js'
import type { AppendOptions, UploadProgress, UploadSessionsOptions } from './upload-options.js'

export type { AppendOptions, UploadProgress, UploadSessionsOptions }

interface LiveState {
  algorithm: Algorithm
  hash: Hash
  offset: number
  /** a monolithic upload's own session: lives only as long as its request */
  ephemeral?: boolean
  /** whether this session has a staging file (it gets one with its first appended bytes) */
  staged?: boolean
}

/**
 * Largest body taken whole into memory instead of through a staging file (see finishWhole):
 * small blobs (configs, small layers) are most of a push by count, and a file create, an append
 * and a rename per blob cost more than the bytes. Bounded so concurrent pushes stay cheap.
 */
const WHOLE_BODY_LIMIT = 256 * 1024

export class UploadSessions {
  private readonly live = new Map<string, LiveState>()
  private readonly lock = new KeyedLock()

  constructor(private readonly options: UploadSessionsOptions) {}

  async start(repo: string, algorithm: Algorithm = 'sha256'): Promise<UploadProgress> {
    await this.options.space.check()
    const id = randomUUID()
    // No staging file yet: the record stands for the session until bytes arrive (see state).
    // Storage that would refuse those bytes (read-only hosting) refuses the session now.
    this.options.driver.checkWritable?.(layoutKeys.upload(repo, id))
    this.live.set(id, { algorithm, hash: newHash(algorithm), offset: 0 })
    // Not awaited (see stamp): a crash before the commit loses a session that holds no bytes,
    // and the client's next request gets 404 BLOB_UPLOAD_UNKNOWN and starts the upload again.
    this.stamp(repo, id)
    return { id, offset: 0 }
  }

  /**
   * A session under an id the caller derives (a resumable download's staging, not a client's
   * session): opened when absent, else continued from its staged bytes, re-hashed from disk
   * after a restart. `hash` is a copy of the running hash over those bytes.
   */
  async resume(
    repo: string,
    id: string,
    algorithm: Algorithm,
  ): Promise<UploadProgress & { hash: Hash }> {
    return this.lock.run(id, async () => {
      let state: LiveState
      try {
        state = await this.state(repo, id)
      } catch (err) {
        if (!(err instanceof RegistryError && err.code === 'BLOB_UPLOAD_UNKNOWN')) throw err
        await this.options.space.check()
        state = { algorithm, hash: newHash(algorithm), offset: 0 }
        this.live.set(id, state)
        this.stamp(repo, id)
      }
      if (state.algorithm !== algorithm) {
        // Rebuilt after a restart as sha256 (see state): hash the staged bytes as asked.
        const { hash } = await hashStored(
          this.options.driver,
          layoutKeys.upload(repo, id),
          algorithm,
        )
        Object.assign(state, { algorithm, hash })
      }
      return { id, offset: state.offset, hash: state.hash.copy() }
    })
  }

  /** The first `length` staged bytes of a session (length > 0). */
  readStaged(repo: string, id: string, length: number): Promise<Readable> {
    const range = { start: 0, end: length - 1 }
    return this.options.driver.read(layoutKeys.upload(repo, checkSessionId(id)), { range })
  }

  async status(repo: string, id: string): Promise<UploadProgress> {
    return this.lock.run(id, async () => ({ id, offset: (await this.state(repo, id)).offset }))
  }

  async append(
    repo: string,
    id: string,
    body: Readable,
    options: AppendOptions = {},
  ): Promise<UploadProgress> {
    body.on('error', () => {}) // see putWhole: the body waits for the session's lock unread
    return this.lock.run(id, async () => {
      const state = await this.state(repo, id)
      await this.appendLocked(repo, id, state, body, options)
      return { id, offset: state.offset }
    })
  }

  /** Close the session: append the last bytes, check the digest, publish the blob. */
  async finish(
    repo: string,
    id: string,
    digest: Digest,
    body?: Readable,
    options: AppendOptions = {},
  ): Promise<{ size: number }> {
    body?.on('error', () => {}) // see putWhole: the body waits for the session's lock unread
    return this.lock.run(id, async () => {
      const state = await this.state(repo, id)
      if (!state.staged && this.takesWhole(body, options)) {
        return this.finishWhole(repo, id, state, digest, body, options)
      }
      if (body) await this.appendLocked(repo, id, state, body, options)
      const key = layoutKeys.upload(repo, id)
      this.live.delete(id)
      const actual =
        digest.algorithm === state.algorithm
          ? Digest.fromHash(state.algorithm, state.hash)
          : await this.rehash(repo, id, digest.algorithm)
      if (!actual.equals(digest)) {
        await this.discard(repo, id)
        throw new RegistryError(
          'DIGEST_INVALID',
          `uploaded content has digest ${actual}, not ${digest}`,
        )
      }
      await this.options.blobs.carryStaged(repo, digest, key)
      await this.options.inRepository(repo, () =>
        this.options.blobs.publish(repo, digest, key, state.offset),
      )
      this.forget(id, state)
      await this.options.driver.prune(layoutKeys.uploadsDir(repo))
      return { size: state.offset }
    })
  }

  /** Monolithic upload (POST ?digest=): one request, and nothing left behind if it fails. */
  async putWhole(
    repo: string,
    digest: Digest,
    body: Readable,
    options: AppendOptions = {},
  ): Promise<{ size: number }> {
    // One request, no session for a client to come back to: no session record (expiry still
    // finds a staging file left by a crash, by its missing record).
    // The body is not read until the checks below are done: a failure of it meanwhile must not
    // go unheard (an 'error' without a listener ends the process); the write that reads it next
    // sees the stream destroyed and fails in turn.
    body.on('error', () => {})
    await this.options.space.check()
    const id = randomUUID()
    this.live.set(id, {
      algorithm: digest.algorithm,
      hash: newHash(digest.algorithm),
      offset: 0,
      ephemeral: true,
    })
    try {
      return await this.finish(repo, id, digest, body, options)
    } catch (err) {
      await this.discard(repo, id).catch(() => {})
      throw err
    }
  }

  async cancel(repo: string, id: string): Promise<void> {
    await this.lock.run(id, async () => {
      await this.state(repo, id)
      await this.discard(repo, id)
    })
  }

  /** A fresh staging key for work that is not a client session (e.g. a mount by copy). */
  stagingKey(repo: string): string {
    return layoutKeys.upload(repo, randomUUID())
  }

  /**
   * Drop sessions idle for longer than `maxAgeMs`. Idle time comes from activity stamps, not
   * file mtimes, so a wall clock leaping forward (NTP on a board without a real-time clock) does
   * not make every upload look abandoned. A session with no record counts as active from now.
   */
  async expire(repos: Iterable<string>, maxAgeMs: number): Promise<number> {
    let removed = 0
    for (const repo of repos) {
      for await (const entry of this.options.driver.list(layoutKeys.uploadsDir(repo))) {
        const id = entry.name
        const touched = this.options.db.getSession(id)?.touched
        if (!touched) {
          await this.touch(repo, id)
          continue
        }
        if (ageMs(touched, this.options.clock) < maxAgeMs) continue
        await this.lock.run(id, () => this.discard(repo, id))
        removed++
      }
    }
    return removed + (await this.expireUnstaged(maxAgeMs))
  }

  /** Sessions that never received a byte: a record and no staging file (see start). */
  private async expireUnstaged(maxAgeMs: number): Promise<number> {
    const { db, driver, clock } = this.options
    const idle = [...db.sessions()].filter(
      ([, record]) => record.touched && ageMs(record.touched, clock) >= maxAgeMs,
    )
    let removed = 0
    for (const [id, record] of idle) {
      await this.lock.run(id, async () => {
        if (await driver.stat(layoutKeys.upload(record.repo, id))) return // staged: seen above
        this.live.delete(id)
        await db.deleteSession(id)
        removed++
      })
    }
    return removed
  }

  /**
   * Whether closing this session can take its body whole: nothing staged yet, a body small
   * enough (or none: an empty blob), and a blob store that takes bytes directly.
   */
  private takesWhole(body: Readable | undefined, options: AppendOptions): boolean {
    if (!this.options.blobs.takesBytes) return false
    if (!body) return true
    return options.length !== undefined && options.length <= WHOLE_BODY_LIMIT
  }

  /** Close a session with nothing staged: read the small body, check it, store it in one put. */
  private async finishWhole(
    repo: string,
    id: string,
    state: LiveState,
    digest: Digest,
    body: Readable | undefined,
    options: AppendOptions,
  ): Promise<{ size: number }> {
    // distribution-spec: a chunk that does not start where the session ends gets 416.
    if (options.range && options.range.start !== 0) {
      throw new RegistryError(
        'UPLOAD_RANGE_INVALID',
        `chunk starts at ${options.range.start}, but the session holds 0 bytes`,
      )
    }
    await this.options.space.check(options.length ?? 0)
    const bytes = body ? await readWhole(body, options.length ?? 0) : Buffer.alloc(0)
    const actual = Digest.of(digest.algorithm, bytes)
    this.live.delete(id)
    if (!actual.equals(digest)) {
      this.forget(id, state)
      throw new RegistryError(
        'DIGEST_INVALID',
        `uploaded content has digest ${actual}, not ${digest}`,
      )
    }
    await this.options.inRepository(repo, () => this.options.blobs.putBytes(repo, digest, bytes))
    this.forget(id, state)
    return { size: bytes.length }
  }

  /**
   * Record or refresh the session without waiting for the commit (EngineDb.background): a
   * record lost to a crash costs the client a new session at most (expiry and `state` handle
   * both a record without a file and the reverse).
   */
  private stamp(repo: string, id: string): void {
    this.options.db.background(this.touch(repo, id))
  }

  /** The session is over: drop its record (a one-request upload never had one). */
  private forget(id: string, state: LiveState): void {
    if (!state.ephemeral) this.options.db.background(this.options.db.deleteSession(id))
  }

  private async touch(repo: string, id: string): Promise<void> {
    const previous = this.options.db.getSession(id)
    await this.options.db.putSession(id, {
      repo,
      createdAt: previous?.createdAt ?? this.options.clock.wallMs(),
      touched: stampNow(this.options.clock),
    })
  }

  private async appendLocked(
    repo: string,
    id: string,
    state: LiveState,
    body: Readable,
    options: AppendOptions,
  ): Promise<void> {
    // distribution-spec: a chunk that does not start where the session ends gets 416.
    if (options.range && options.range.start !== state.offset) {
      throw new RegistryError(
        'UPLOAD_RANGE_INVALID',
        `chunk starts at ${options.range.start}, but the session holds ${state.offset} bytes`,
      )
    }
    // Refuse up front what would cross the free-space reserve, and admit each chunk as it
    // streams in (a chunked body declares no length): the reserve is never crossed.
    const { space, driver } = this.options
    let tap: HashingTap | undefined
    try {
      await space.check(options.length ?? 0, false)
      const key = layoutKeys.upload(repo, id)
      const landed = async () => ((await driver.stat(key))?.size ?? 0) - state.offset
      await space.streaming(landed, async (admit) => {
        tap = hashStream(body, [state.hash], admit, true)
        await driver.write(key, tap, {
          append: true,
          signal: options.signal,
        })
      })
    } catch (err) {
      // Bytes may have been hashed but not written: rebuild from the file next time.
      this.live.delete(id)
      // A full disk must not stay full because of this upload: whatever it staged is freed at
      // once and the session ends (its client starts again). One refused before it staged a
      // byte holds nothing and stays open.
      if (isStorageFull(err) && (tap || state.staged)) await this.discard(repo, id)
      throw err
    }
    state.offset += tap!.bytes
    state.staged = true
    // The stamp only dates the session for expiry; a stamp lost to a crash only makes the
    // session look fresh. Waiting for its commit would hold every chunk's response.
    if (!state.ephemeral) this.stamp(repo, id)
  }

  private async state(repo: string, id: string): Promise<LiveState> {
    checkSessionId(id)
    const known = this.live.get(id)
    if (known?.ephemeral) return known
    // Known to this run and bound to this repository: the state is the file's (a failed write
    // drops it, see appendLocked), so no stat; a session not yet written to has no file at all.
    const record = this.options.db.getSession(id)
    if (known && record?.repo === repo) return known
    const info = await this.options.driver.stat(layoutKeys.upload(repo, id))
    if (!info) {
      // A session that never received a byte, after a restart or a failed first request.
      if (record?.repo === repo) {
        const algorithm = known?.algorithm ?? 'sha256'
        const fresh = { algorithm, hash: newHash(algorithm), offset: 0 }
        this.live.set(id, fresh)
        return fresh
      }
      this.live.delete(id)
      throw new RegistryError('BLOB_UPLOAD_UNKNOWN', 'upload session unknown to registry')
    }
    if (known && known.offset === info.size) {
      known.staged = true
      return known
    }
    // After a restart or a failed request: replay the staged bytes into a new hash.
    const algorithm = known?.algorithm ?? 'sha256'
    const { hash, size } = await hashStored(
      this.options.driver,
      layoutKeys.upload(repo, id),
      algorithm,
    )
    const rebuilt = { algorithm, hash, offset: size, staged: true }
    this.live.set(id, rebuilt)
    return rebuilt
  }

  /** The staged bytes hashed anew with another algorithm (a sha512 digest on a sha256 session). */
  private async rehash(repo: string, id: string, algorithm: Algorithm): Promise<Digest> {
    const { hash } = await hashStored(this.options.driver, layoutKeys.upload(repo, id), algorithm)
    return Digest.fromHash(algorithm, hash)
  }

  private async discard(repo: string, id: string): Promise<void> {
    this.live.delete(id)
    await this.options.driver.delete(layoutKeys.upload(repo, id))
    await this.options.db.deleteSession(id)
    await this.options.driver.prune(layoutKeys.uploadsDir(repo))
  }
}
