// One pass over an archive's entries: every file is hashed as its bytes stream in and either kept
// in memory (small JSON such as manifests and configs, tiny files, within fixed budgets) or staged
// into an upload session of the registry, where it stays invisible until the import commits.
// A blob's name promises its digest (blobs/sha256/<hex>): the bytes must keep that promise.
import { createHash, type Hash } from 'node:crypto'
import { once } from 'node:events'
import { createGunzip, type Gunzip } from 'node:zlib'
import { ArchiveError, type ArchiveEntry, type EntrySource } from './entries.js'
import type { RegistryAccess, StagedBlob } from './registry-access.js'

/** Names of the metadata files an archive may carry at its top. */
export const METADATA = new Set(['oci-layout', 'index.json', 'manifest.json', 'repositories'])
const MAX_METADATA = 16 * 1024 * 1024
/** JSON files up to this size stay in memory (manifests are at most 4 MiB: distribution). */
const JSON_ENTRY = 4 * 1024 * 1024
const JSON_BUDGET = 64 * 1024 * 1024
/** Other small files (tiny layers) too, within their own budget. */
const SMALL_ENTRY = 256 * 1024
const SMALL_BUDGET = 32 * 1024 * 1024

export interface Collected {
  name: string
  digest: string
  size: number
  gzip: boolean
  /** the digest of the decompressed bytes, when asked for and the file is gzip */
  uncompressed?: string
  /** in memory */
  bytes?: Buffer
  /** staged (sealed) in the staging repository */
  staged?: StagedBlob
  /** the staging repository holds it already: nothing staged */
  present?: boolean
}

/** Thrown when a blob must be staged before the archive has said where it goes. */
export class NamesNeeded extends Error {}

export class Collection {
  readonly metadata = new Map<string, Buffer>()
  readonly byName = new Map<string, Collected>()
  readonly byDigest = new Map<string, Collected>()
  private readonly links = new Map<string, string>()
  private jsonBytes = 0
  private smallBytes = 0

  /** The file an archive name leads to, following links inside the archive. */
  resolve(name: string): Collected | undefined {
    let current = name
    for (let hops = 0; hops < 16; hops++) {
      const found = this.byName.get(current)
      if (found) return found
      const next = this.links.get(current)
      if (next === undefined) return undefined
      current = next
    }
    throw new ArchiveError(`archive link ${name} loops`)
  }

  async abortAll(): Promise<void> {
    for (const c of this.byDigest.values()) {
      if (c.staged) await c.staged.abort().catch(() => {})
    }
  }

  addLink(name: string, target: string): void {
    this.links.set(name, target)
  }

  /** Whether `size` bytes of this kind may be kept in memory (and reserve them if so). */
  reserve(size: number, json: boolean): boolean {
    if (json && size <= JSON_ENTRY && this.jsonBytes + size <= JSON_BUDGET) {
      this.jsonBytes += size
      return true
    }
    if (size <= SMALL_ENTRY && this.smallBytes + size <= SMALL_BUDGET) {
      this.smallBytes += size
      return true
    }
    return false
  }
}

export interface CollectOptions {
  access: RegistryAccess
  /** where blobs stage; undefined until the archive's metadata named it */
  stageRepo: () => string | undefined
  /** read metadata only, skipping every blob (a first pass to learn the names) */
  metadataOnly?: boolean
  /** hash the decompressed bytes of gzip files too (docker-archive diff_ids) */
  uncompressed: () => boolean
  onBytes: (n: number) => void
}

/** The digest a blob's archive name promises ("blobs/sha256/<hex>"), if it is one. */
export function promisedDigest(name: string): string | undefined {
  const m = /^blobs\/(sha256|sha512)\/([0-9a-f]+)$/.exec(name)
  if (!m) return undefined
  return m[2].length === (m[1] === 'sha256' ? 64 : 128) ? `${m[1]}:${m[2]}` : undefined
}

async function drain(body: AsyncIterable<Buffer> | Buffer[]): Promise<void> {
  for await (const _ of body) {
    // discard
  }
}

export async function collect(
  source: EntrySource,
  collection: Collection,
  options: CollectOptions,
): Promise<void> {
  for await (const entry of source.entries(options.onBytes)) {
    if (entry.kind === 'link') {
      collection.addLink(entry.name, entry.target!)
      continue
    }
    if (entry.kind !== 'file') continue
    if (METADATA.has(entry.name)) {
      if (entry.size > MAX_METADATA) throw new ArchiveError(`${entry.name} is too large`)
      const chunks: Buffer[] = []
      for await (const chunk of entry.body) chunks.push(chunk)
      collection.metadata.set(entry.name, Buffer.concat(chunks))
      continue
    }
    const promised = promisedDigest(entry.name)
    if (options.metadataOnly || (promised && collection.byDigest.has(promised))) {
      await drain(entry.body)
      continue
    }
    const collected = await collectFile(entry, promised, collection, options)
    collection.byName.set(entry.name, collected)
    if (!collection.byDigest.has(collected.digest))
      collection.byDigest.set(collected.digest, collected)
    else if (collected.staged) await collected.staged.abort()
  }
}

/** Hashes of the decompressed bytes of a gzip stream, fed chunk by chunk. */
class GunzipHash {
  private readonly gunzip: Gunzip = createGunzip()
  private readonly hash: Hash = createHash('sha256')
  private failed = false
  private readonly errored: Promise<void>

  constructor() {
    this.gunzip.on('data', (d: Buffer) => this.hash.update(d))
    this.errored = new Promise((resolve) =>
      this.gunzip.once('error', () => {
        this.failed = true
        resolve()
      }),
    )
  }

  async write(chunk: Buffer): Promise<void> {
    if (this.failed) return
    if (!this.gunzip.write(chunk)) await Promise.race([once(this.gunzip, 'drain'), this.errored])
  }

  async digest(): Promise<string | undefined> {
    if (this.failed) return undefined
    const ended = new Promise<void>((resolve) => this.gunzip.once('end', () => resolve()))
    this.gunzip.end()
    await Promise.race([ended, this.errored])
    return this.failed ? undefined : `sha256:${this.hash.digest('hex')}`
  }
}

async function collectFile(
  entry: ArchiveEntry,
  promised: string | undefined,
  collection: Collection,
  options: CollectOptions,
): Promise<Collected> {
  const algorithm = promised?.startsWith('sha512:') ? 'sha512' : 'sha256'
  const hash = createHash(algorithm)
  let gunzipHash: GunzipHash | undefined
  let staged: StagedBlob | undefined
  let present = false
  let memory: Buffer[] | undefined
  let gzip = false
  let first = true
  try {
    for await (const chunk of entry.body) {
      if (first) {
        first = false
        gzip = chunk.length >= 2 && chunk[0] === 0x1f && chunk[1] === 0x8b
        if (gzip && options.uncompressed()) gunzipHash = new GunzipHash()
        const json = chunk.toString('latin1', 0, 64).trimStart().startsWith('{')
        if (collection.reserve(entry.size, json)) memory = []
        else {
          const stageRepo = options.stageRepo()
          if (stageRepo === undefined) throw new NamesNeeded()
          if (promised && (await options.access.hasBlob(stageRepo, promised))) present = true
          else staged = await options.access.stageBlob(stageRepo)
        }
      }
      hash.update(chunk)
      if (gunzipHash) await gunzipHash.write(chunk)
      if (memory) memory.push(chunk)
      else if (staged) await staged.write(chunk)
    }
    if (first) memory = [] // an empty file
    const digest = `${algorithm}:${hash.digest('hex')}`
    if (promised && digest !== promised) {
      throw new ArchiveError(
        `${entry.name}: the content hashes to ${digest}, not to the digest its name gives`,
      )
    }
    if (staged) await staged.seal()
    return {
      name: entry.name,
      digest,
      size: entry.size,
      gzip,
      uncompressed: gunzipHash ? await gunzipHash.digest() : undefined,
      bytes: memory ? Buffer.concat(memory) : undefined,
      staged,
      present,
    }
  } catch (err) {
    if (staged) await staged.abort()
    throw err
  }
}
