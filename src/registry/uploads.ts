// Blob upload sessions (distribution-spec "Pushing blobs"): POST opens one, PATCH appends
// (streamed, or chunked with Content-Range), PUT ?digest= closes it. The bytes live in
// <repo>/.uploads/<id>; the running hash lives in memory and is rebuilt from that file after a
// restart or a failed request, so the digest is known when the last byte lands.
import { randomUUID, type Hash } from 'node:crypto'
import { Readable } from 'node:stream'
import { layoutKeys } from '../fs-layout/index.js'
import type { IndexDb } from '../index-db/index.js'
import type { StorageDriver } from '../storage/index.js'
import type { BlobStore } from './blob-store.js'
import { Digest, newHash, type Algorithm } from './digest.js'
import { RegistryError } from './errors.js'
import { hashStored, hashStream } from './hashing.js'
import { KeyedLock } from './keyed-lock.js'
import { ageMs, stampNow, type Clock } from './clock.js'
import { checkSessionId } from './names.js'
import { RECHECK_BYTES, type SpaceGuard } from './space-guard.js'

export interface UploadProgress {
  id: string
  /** bytes received so far */
  offset: number
}

export interface AppendOptions {
  /** Content-Range of a chunk: must start where the session ends */
  range?: { start: number; end: number }
  /** the body's length when the client declared it (Content-Length) */
  length?: number
  signal?: AbortSignal
}

interface LiveState {
  algorithm: Algorithm
  hash: Hash
  offset: number
  /** a monolithic upload's own session: lives only as long as its request */
  ephemeral?: boolean
}

export interface UploadSessionsOptions {
  /** where sessions stage their bytes (local disk, whatever the blobs' backend) */
  driver: StorageDriver
  db: IndexDb
  blobs: BlobStore
  /**
   * Run `task` under the repository's lock once its oci-layout and index.json exist, so a GC
   * pass cannot remove the repository between its creation and the blob's arrival.
   */
  inRepository: <T>(repo: string, task: () => Promise<T>) => Promise<T>
  space: SpaceGuard
  clock: Clock
}

const EMPTY = () => Readable.from([])

export class UploadSessions {
  private readonly live = new Map<string, LiveState>()
  private readonly lock = new KeyedLock()

  constructor(private readonly options: UploadSessionsOptions) {}

  async start(repo: string, algorithm: Algorithm = 'sha256'): Promise<UploadProgress> {
    await this.options.space.check()
    const id = randomUUID()
    await this.options.driver.write(layoutKeys.upload(repo, id), EMPTY(), { append: true })
    await this.touch(repo, id)
    this.live.set(id, { algorithm, hash: newHash(algorithm), offset: 0 })
    return { id, offset: 0 }
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
      await this.options.db.deleteSession(id)
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
    // One request, no session for a client to come back to: no empty file first and no session
    // record (expiry still finds a staging file left by a crash, by its missing record).
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
    return removed
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
    // Refuse up front what would cross the free-space reserve, and re-check as bytes stream in
    // (a chunked body declares no length).
    await this.options.space.check(options.length ?? 0)
    const tap = hashStream(
      body,
      [state.hash],
      {
        everyBytes: RECHECK_BYTES,
        check: () => this.options.space.check(),
      },
      true,
    )
    try {
      await this.options.driver.write(layoutKeys.upload(repo, id), tap, {
        append: true,
        signal: options.signal,
      })
    } catch (err) {
      // Bytes may have been hashed but not written: rebuild from the file next time.
      this.live.delete(id)
      throw err
    }
    state.offset += tap.bytes
    if (!state.ephemeral) await this.touch(repo, id)
  }

  private async state(repo: string, id: string): Promise<LiveState> {
    checkSessionId(id)
    const ephemeral = this.live.get(id)
    if (ephemeral?.ephemeral) return ephemeral
    const info = await this.options.driver.stat(layoutKeys.upload(repo, id))
    if (!info) {
      this.live.delete(id)
      throw new RegistryError('BLOB_UPLOAD_UNKNOWN', 'upload session unknown to registry')
    }
    const known = this.live.get(id)
    if (known && known.offset === info.size) return known
    // After a restart or a failed request: replay the staged bytes into a new hash.
    const algorithm = known?.algorithm ?? 'sha256'
    const { hash, size } = await hashStored(
      this.options.driver,
      layoutKeys.upload(repo, id),
      algorithm,
    )
    const rebuilt = { algorithm, hash, offset: size }
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
