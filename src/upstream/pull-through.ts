// The pull-through cache (zot's on-demand sync): what the HTTP handlers consult for a repository
// that an upstream's content rules cover. Manifests missing locally are fetched, checked against
// their digest and served; they are stored as soon as the blobs they reference are (see
// pending-manifests.ts). A blob missing locally streams to the client while it is written into
// an upload session and verified (blob-tee.ts); a download cut short resumes with Range, and a
// prefix staged by a failed request or before a restart is continued (staged-pull.ts). One upstream fetch per manifest or blob at a
// time: later requests wait for it and are served from the store. A cached tag is compared with
// the upstream's at most every tagRecheckInterval; a digest never changes, so it never is.
// Under content.platforms an index is stored with the children left out absent, and those
// answer 404 without asking the upstream (partial-index.ts).
// When the upstream fails, whatever is cached answers; a failure is never remembered as absence.
// With `onlySigned`, a manifest fetched by tag (or by a digest no admitted index lists) is
// served only when its digest is signed upstream (signatures.ts); otherwise 404
// MANIFEST_UNKNOWN saying so. What is stored already is served as it is.
import type { Readable } from 'node:stream'
import type { SyncSettings, UpstreamSettings } from '../config/sync.js'
import {
  lookupReference,
  RegistryError,
  type Digest,
  type LogFn,
  type Registry,
  type RegistryRouter,
} from '../registry/index.js'
import { upstreamName } from './content-map.js'
import { tagServed } from './mirror-selection.js'
import { PendingManifests, type PendingManifest } from './pending-manifests.js'
import { absentAsUndefined, Evictor } from './evictor.js'
import { leftOutChildren, leftOutOf } from './partial-index.js'
import { LEDGER_FLUSH_MS, PullLedger } from './pull-ledger.js'
import { ImageNotSigned, SignedAdmission } from './signatures.js'
import { pullBlob } from './staged-pull.js'
import { readCredentials } from './credentials-file.js'
import { UpstreamClient, type Credentials } from './upstream-client.js'
import {
  fetchUpstreamManifest,
  upstreamBlobSize,
  upstreamReferrers,
  upstreamFailure,
  upstreamTagDigest,
  type Route,
} from './upstream-fetch.js'

export interface ServedManifest {
  bytes: Buffer
  mediaType: string
  digest: string
}

export interface ServedBlob {
  size: number
  /** absent for HEAD */
  body?: Readable
}

export class PullThrough {
  private readonly upstreams: Array<{ client: UpstreamClient; settings: UpstreamSettings }>
  private readonly pending = new PendingManifests()
  private readonly ledger: PullLedger
  /** `${repo}:${tag}` -> when the upstream last confirmed it (ms) */
  private readonly tagChecked = new Map<string, number>()
  private readonly manifestFlights = new Map<string, Promise<ServedManifest>>()
  private readonly blobFlights = new Map<string, Promise<void>>()
  /** onlySigned: which manifests may be served */
  private readonly signed = new SignedAdmission()
  private readonly evictor: Evictor
  /** writes the ledger's recency to the engine index now and then (maxSize set) */
  private readonly flushTimer?: NodeJS.Timeout

  constructor(
    private readonly router: RegistryRouter,
    settings: SyncSettings,
    private readonly log: LogFn,
    credentials: Record<string, Credentials> = {},
  ) {
    this.upstreams = settings.registries.map((s) => ({
      client: new UpstreamClient(s, credentials),
      settings: s,
    }))
    // Kept in the engine index only while maxSize bounds the cache (open() drops a stale one).
    const persist = settings.maxSizeBytes !== undefined
    this.ledger = new PullLedger(
      settings.maxSizeBytes,
      persist ? (repo) => router.for(repo).pullLedgerRecords() : undefined,
    )
    if (persist) {
      this.flushTimer = setInterval(() => this.ledger.flush(), LEDGER_FLUSH_MS)
      this.flushTimer.unref()
    }
    this.evictor = new Evictor({
      router,
      ledger: this.ledger,
      log,
      persist,
      fetching: (repo, digest) => this.blobFlights.has(`${repo}@${digest}`),
      evicted: (repo) => {
        for (const key of this.tagChecked.keys()) {
          if (key.startsWith(`${repo}:`)) this.tagChecked.delete(key)
        }
      },
    })
  }

  /** From the configuration: reads the credentials file and counts what is already cached. */
  static async open(router: RegistryRouter, settings: SyncSettings, log: LogFn) {
    const credentials = settings.credentialsFile
      ? await readCredentials(settings.credentialsFile)
      : {}
    const pull = new PullThrough(router, settings, log, credentials)
    if (settings.maxSizeBytes === undefined) await pull.evictor.dropKeptLedger()
    else await pull.evictor.countCached((repo) => !!pull.route(repo))
    return pull
  }

  /** Stop. Recency used since the last flush is written (committed by the stores' close). */
  close(): void {
    clearInterval(this.flushTimer)
    this.ledger.flush()
    for (const u of this.upstreams) u.client.close()
  }

  /** Bytes of pulled-through content the cache holds (what maxSize bounds). */
  get cachedBytes(): number {
    return this.ledger.total
  }

  /** The upstream covering `repo` (containerd's ?ns= picks among several), or undefined. */
  private route(repo: string, ns?: string): Route | undefined {
    for (const { client, settings } of this.upstreams) {
      if (ns && !client.serves(ns)) continue
      for (const rule of settings.content) {
        const remote = upstreamName(rule, repo)
        if (remote) return { client, settings, rule, remote }
      }
    }
    return undefined
  }

  async manifest(repo: string, reference: string, ns?: string): Promise<ServedManifest> {
    // Neither a tag nor a digest: 404 MANIFEST_UNKNOWN here, not after a lookup that treats
    // "absent" as "ask the upstream" (names.ts lookupReference).
    lookupReference(reference)
    const registry = this.router.for(repo)
    const byDigest = reference.includes(':')
    const route = this.route(repo, ns)
    // content.tags: a tag the rule's filters leave out is served only if stored here already.
    if (!route) return registry.manifests.get(repo, reference)
    if (!byDigest && !tagServed(route.rule, reference)) {
      return registry.manifests.get(repo, reference).catch((err: unknown) => {
        // The repository exists upstream; only this tag is filtered out: the manifest is unknown.
        if (!(err instanceof RegistryError && err.code === 'NAME_UNKNOWN')) throw err
        throw new RegistryError(
          'MANIFEST_UNKNOWN',
          `manifest unknown: ${reference} (not cached, and the content rule's tags filters leave it out)`,
        )
      })
    }
    const local = await absentAsUndefined(registry.manifests.get(repo, reference))
    if (local) {
      this.ledger.usedImage(repo, local.digest)
      if (byDigest || !this.recheckDue(route, repo, reference)) return local
      return (await this.recheckTag(route, repo, reference, local.digest)) ?? local
    }
    const pending = byDigest
      ? this.pending.get(repo, reference)
      : this.pending.byTag(repo, reference)
    const index =
      byDigest && !pending
        ? await leftOutOf(route, registry, this.pending.inRepo(repo), repo, reference)
        : undefined
    if (index) {
      throw new RegistryError(
        'MANIFEST_UNKNOWN',
        `manifest unknown: ${reference} (a child of index ${index} that content.platforms leaves out)`,
      )
    }
    if (pending && (byDigest || !this.recheckDue(route, repo, reference))) return pending
    try {
      return await this.fetchManifest(route, repo, reference, !pending)
    } catch (err) {
      if (pending) return pending
      throw upstreamFailure(route, err, `manifest ${reference}`)
    }
  }

  async blob(
    repo: string,
    digest: Digest,
    ns: string | undefined,
    head: boolean,
  ): Promise<ServedBlob | undefined> {
    const route = this.route(repo, ns)
    if (!route) return undefined
    const registry = this.router.for(repo)
    const key = `${repo}@${digest}`
    if (await registry.blobs.stat(repo, digest)) {
      this.ledger.usedBlob(repo, digest.toString())
      return undefined
    }
    const flight = this.blobFlights.get(key)
    if (flight) {
      // Someone is already fetching it: wait for the stored copy rather than fetch it twice.
      await flight.catch(() => {})
      if (await registry.blobs.stat(repo, digest)) return undefined
    }
    // Registered before the first await, so a request arriving meanwhile joins this fetch.
    const started = this.fetchBlob(route, registry, repo, digest, head)
    if (!head) {
      const flight = started
        .then((served) => served.stored)
        .finally(() => this.blobFlights.delete(key))
      this.blobFlights.set(key, flight)
      flight.catch((err) =>
        this.log('pull-through: blob not stored', {
          repo,
          digest: `${digest}`,
          error: String(err),
        }),
      )
    }
    try {
      return await started
    } catch (err) {
      throw upstreamFailure(route, err, `blob ${digest}`)
    }
  }

  /**
   * The referrers of `subject`: the upstream's (when it has the referrers API) merged with the
   * local ones; referrers not stored yet are fetched in the background.
   */
  async referrers<T extends { digest: string; artifactType?: string }>(
    repo: string,
    subject: string,
    artifactType: string | undefined,
    ns: string | undefined,
    local: () => Promise<T[]>,
  ): Promise<T[]> {
    const mine = await local()
    const route = this.route(repo, ns)
    // "referrers": false keeps a subject's upstream referrers out.
    if (!route?.settings.referrers) return mine
    let theirs: T[] = []
    try {
      theirs = await upstreamReferrers<T>(route, subject, artifactType)
    } catch (err) {
      this.log('pull-through: upstream referrers unavailable', { repo, error: String(err) })
    }
    const known = new Set(mine.map((d) => d.digest))
    const missing = theirs.filter(
      (d) =>
        typeof d.digest === 'string' &&
        !known.has(d.digest) &&
        (artifactType === undefined || d.artifactType === artifactType),
    )
    for (const d of missing) void this.mirror(repo, String(d.digest), ns)
    return [...mine, ...missing]
  }

  /** Fetch a manifest and its blobs without a client waiting (a referrer seen upstream). */
  private async mirror(repo: string, digest: string, ns: string | undefined): Promise<void> {
    try {
      await this.manifest(repo, digest, ns)
      const entry = this.pending.get(repo, digest)
      for (const blob of entry?.blobs ?? []) {
        const served = await this.blob(repo, blob.digest, ns, false)
        served?.body?.resume()
        await this.blobFlights.get(`${repo}@${blob.digest}`)
      }
    } catch (err) {
      this.log('pull-through: could not mirror a referrer', { repo, digest, error: String(err) })
    }
  }

  private recheckDue(route: Route, repo: string, tag: string): boolean {
    const checked = this.tagChecked.get(`${repo}:${tag}`)
    return checked === undefined || Date.now() - checked >= route.settings.tagRecheckMs
  }

  /** A newer manifest when the upstream moved the tag; undefined to keep serving the cache. */
  private async recheckTag(
    route: Route,
    repo: string,
    tag: string,
    cached: string,
  ): Promise<ServedManifest | undefined> {
    try {
      const upstream = await upstreamTagDigest(route, tag)
      if (upstream && upstream !== cached) {
        return await this.fetchManifest(route, repo, tag, false)
      }
      // Same digest, or the tag is gone upstream: the cached copy stays what this edge serves.
      this.tagChecked.set(`${repo}:${tag}`, Date.now())
    } catch (err) {
      // onlySigned: the tag moved to an unsigned image; the signed copy stays until it is signed.
      if (err instanceof ImageNotSigned) this.tagChecked.set(`${repo}:${tag}`, Date.now())
      this.log('pull-through: upstream unavailable, serving the cached tag', {
        repo,
        tag,
        error: String(err),
      })
    }
    return undefined
  }

  private fetchManifest(
    route: Route,
    repo: string,
    reference: string,
    retry: boolean,
  ): Promise<ServedManifest> {
    const key = `${repo}:${reference}`
    let flight = this.manifestFlights.get(key)
    if (!flight) {
      flight = this.fetchManifestOnce(route, repo, reference, retry).finally(() =>
        this.manifestFlights.delete(key),
      )
      this.manifestFlights.set(key, flight)
    }
    return flight
  }

  private async fetchManifestOnce(
    route: Route,
    repo: string,
    reference: string,
    retry: boolean,
  ): Promise<ServedManifest> {
    const entry = await fetchUpstreamManifest(route, repo, reference, retry)
    if (entry.children.length > 0) entry.absentChildren = leftOutChildren(route, entry.bytes)
    const byDigest = reference.includes(':')
    await this.signed.admit(route, entry, reference, this.log)
    if (!byDigest) this.tagChecked.set(`${repo}:${reference}`, Date.now())
    if (!(await this.store(entry))) this.pending.add(entry)
    return entry
  }

  private async fetchBlob(
    route: Route,
    registry: Registry,
    repo: string,
    digest: Digest,
    head: boolean,
  ): Promise<ServedBlob & { stored?: Promise<void> }> {
    if (head) return { size: await upstreamBlobSize(route, digest) }
    const pulled = await pullBlob(route, registry, repo, digest, this.log)
    const stored = pulled.stored.then(async () => {
      const info = await registry.blobs.stat(repo, digest)
      this.ledger.addBlob(repo, digest.toString(), info?.size ?? 0)
      await this.settle(repo)
      await this.evictor.evict()
    })
    return { size: pulled.size, body: pulled.body, stored }
  }

  /** Store a fetched manifest when everything it references is stored; false otherwise. */
  private async store(entry: PendingManifest): Promise<boolean> {
    const { repo } = entry
    const registry = this.router.for(repo)
    for (const blob of entry.blobs) {
      if (!(await registry.blobs.stat(repo, blob.digest))) return false
    }
    const absentChildren = new Set<string>()
    for (const child of entry.children) {
      if (await absentAsUndefined(registry.manifests.get(repo, child))) continue
      if (!entry.absentChildren?.has(child)) return false
      absentChildren.add(child)
    }
    try {
      const refs = entry.tags.size > 0 ? [...entry.tags] : [entry.digest]
      for (const ref of refs) {
        await registry.manifests.put(repo, ref, entry.bytes, entry.mediaType, {
          absentChildren,
          origin: 'pulled-through',
        })
      }
    } catch (err) {
      // e.g. a blob evicted in between: it stays pending, and is fetched again when asked for.
      if (err instanceof RegistryError && err.code === 'MANIFEST_BLOB_UNKNOWN') return false
      throw err
    }
    this.pending.remove(repo, entry.digest)
    this.ledger.addBlob(repo, entry.digest, entry.bytes.length)
    this.ledger.addImage(
      repo,
      entry.digest,
      entry.blobs.map((b) => b.digest.toString()),
    )
    return true
  }

  /** Store every pending manifest of `repo` that became complete (images before indexes). */
  private async settle(repo: string): Promise<void> {
    for (const entry of this.pending.inRepo(repo)) await this.store(entry)
  }
}
