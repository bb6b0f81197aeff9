// One pass of the periodic mirror over one upstream registry (zot's periodic sync, issue 15):
// list the upstream's repositories (its catalog, paged with `n`/`last` as distribution-spec
// "Listing Repositories" describes; or the fixed names of the content rules' prefixes when it
// forbids the catalog, as Docker Hub does), their tags (paged likewise), keep what the content
// rules select, HEAD each tag and copy only what is missing here or moved upstream. A tag deleted
// upstream stays here. One failing image is recorded (upstream, image, error) and the pass goes
// on; an upstream unreachable from the start stops the pass with nothing changed; a full disk
// (507) stops it cleanly. A dry run lists what would be fetched, with sizes, and writes nothing.
// With `onlySigned`, an image unsigned upstream is skipped, not failed: recorded with the reason
// and logged, as zot logs "skipping image without mandatory signature" and carries on.
import type { UpstreamSettings } from '../../config/sync.js'
import { isStorageFull, MAX_MANIFEST_BYTES } from '../../registry/index.js'
import { absentAsUndefined } from '../evictor.js'
import { selectRepositories, selectTags } from '../mirror-selection.js'
import { ImageNotSigned } from '../signatures.js'
import { readBytes, UpstreamError } from '../upstream-client.js'
import { upstreamTagDigest, type Route } from '../upstream-fetch.js'
import { copyImage, refreshImage, type CopyScope } from './image-copy.js'
import type { MirrorDeps, PassOptions, PassReport } from './types.js'

const PAGE = 1000

class PassStopped extends Error {
  constructor(
    readonly why: NonNullable<PassReport['stoppedBy']>,
    readonly reason: string,
  ) {
    super(reason)
  }
}

export async function runMirrorPass(
  deps: MirrorDeps,
  registry: UpstreamSettings,
  opts: PassOptions = {},
): Promise<PassReport> {
  const upstream = deps.client.name
  const report: PassReport = {
    upstream,
    startedAt: Date.now(),
    endedAt: 0,
    images: { copied: 0, upToDate: 0, failed: 0, skipped: 0 },
    bytes: 0,
    failures: [],
    skipped: [],
    ...(opts.dryRun && { planned: [] }),
  }
  const pass = new Pass(deps, registry, opts, report)
  try {
    await pass.run()
  } catch (err) {
    if (!(err instanceof PassStopped)) throw err
    report.stoppedBy = err.why
    report.reason = err.reason
    deps.log('mirror pass stopped', { upstream, stoppedBy: err.why, reason: err.reason })
  }
  report.endedAt = Date.now()
  return report
}

class Pass {
  /** whether the upstream answered anything yet (an unreachable one stops the pass) */
  private reached = false

  constructor(
    private readonly deps: MirrorDeps,
    private readonly settings: UpstreamSettings,
    private readonly opts: PassOptions,
    private readonly report: PassReport,
  ) {}

  async run(): Promise<void> {
    const catalog = await this.listing((c) => this.catalog(c))
    for (const selected of selectRepositories(this.settings.content, catalog)) {
      this.checkAborted()
      const route: Route = {
        client: this.deps.client,
        settings: this.settings,
        rule: selected.rule,
        remote: selected.upstream,
      }
      const tags = await this.listing(() => this.tags(route))
      if (tags === undefined) continue
      for (const tag of selectTags(selected.rule, tags)) {
        await this.image(route, selected.local, tag, tags)
      }
    }
  }

  /** Copy one tag when it is missing here or moved upstream; failures recorded, not thrown. */
  private async image(route: Route, repo: string, tag: string, tags: string[]): Promise<void> {
    const { progress, dryRun, signal } = this.opts
    const scope: CopyScope = { deps: this.deps, route, repo, upstreamTags: tags, signal, dryRun }
    scope.progress = (e) => {
      if (e.kind === 'bytes') this.report.bytes += e.n
      progress?.(e)
    }
    this.checkAborted()
    try {
      const local = await absentAsUndefined(this.deps.router.for(repo).manifests.get(repo, tag))
      const remote = local && (await upstreamTagDigest(route, tag).catch(() => undefined))
      if (local && remote === local.digest) {
        await refreshImage(scope, local.digest)
        this.report.images.upToDate++
        return
      }
      progress?.({ kind: 'image-start', repo, reference: tag })
      const out = await copyImage(scope, tag)
      this.reached = true
      if (dryRun) {
        const bytes = out.missingBytes + out.fetchedBytes
        this.report.planned!.push({ repo, reference: tag, digest: out.digest, bytes })
        progress?.({ kind: 'would-fetch', repo, reference: tag, digest: out.digest, bytes })
      } else if (local?.digest === out.digest) this.report.images.upToDate++
      else {
        this.report.images.copied++
        const done = { repo, reference: tag, digest: out.digest, fetchedBytes: out.fetchedBytes }
        progress?.({ kind: 'image-done', ...done })
      }
    } catch (err) {
      if (err instanceof ImageNotSigned) return this.skip(repo, tag, err)
      this.stopFor(err)
      const error = err instanceof Error ? err.message : String(err)
      this.report.images.failed++
      this.report.failures.push({ repo, reference: tag, upstream: this.deps.client.name, error })
      this.deps.log('mirror: image not copied', {
        upstream: this.deps.client.name,
        repo,
        tag,
        error,
      })
      progress?.({ kind: 'image-failed', repo, reference: tag, error })
    }
  }

  private skip(repo: string, reference: string, err: ImageNotSigned): void {
    const upstream = this.deps.client.name
    const reason = `not signed upstream (onlySigned)`
    this.report.images.skipped++
    this.report.skipped.push({ repo, reference, upstream, digest: err.digest, reason })
    this.deps.log('mirror: skipping image without mandatory signature', {
      upstream,
      repo,
      tag: reference,
      digest: err.digest,
    })
    this.opts.progress?.({ kind: 'image-skipped', repo, reference, digest: err.digest, reason })
  }

  /** Errors that end the whole pass rather than one image. */
  private stopFor(err: unknown): void {
    this.checkAborted()
    if (isStorageFull(err)) {
      throw new PassStopped('disk-full', `the store is full: ${(err as Error).message}`)
    }
  }

  private checkAborted(): void {
    if (this.opts.signal?.aborted) throw new PassStopped('aborted', 'the pass was stopped')
  }

  /**
   * A listing; an upstream that never answered stops the pass (nothing changed), one that did
   * but fails now costs this listing only (undefined).
   */
  private async listing<T>(list: (first: boolean) => Promise<T>): Promise<T | undefined> {
    try {
      const out = await list(!this.reached)
      this.reached = true
      return out
    } catch (err) {
      this.checkAborted()
      const message = err instanceof Error ? err.message : String(err)
      if (!this.reached && unreachable(err)) throw new PassStopped('upstream-unreachable', message)
      this.report.failures.push({
        repo: '',
        reference: '',
        upstream: this.deps.client.name,
        error: message,
      })
      return undefined
    }
  }

  /** The catalog; undefined when the upstream forbids it (the prefixes' fixed names are used). */
  private async catalog(first: boolean): Promise<string[] | undefined> {
    const names = await this.pages('', '/v2/_catalog', 'repositories', first)
    if (names === undefined) {
      this.deps.log('mirror: upstream lists no catalog; using the fixed names of the prefixes', {
        upstream: this.deps.client.name,
      })
    }
    return names
  }

  private async tags(route: Route): Promise<string[]> {
    const tags = await this.pages(route.remote, `/v2/${route.remote}/tags/list`, 'tags', true)
    if (tags === undefined) {
      throw new UpstreamError(this.deps.client.name, `lists no tags for ${route.remote}`)
    }
    return tags
  }

  /**
   * Every page of a listing (distribution-spec: `n` and `last`, the next page named by the
   * `Link` header, RFC 5988). undefined when the first page is refused (401/403/404).
   */
  private async pages(
    repo: string,
    path: string,
    field: 'repositories' | 'tags',
    retry: boolean,
  ): Promise<string[] | undefined> {
    const out: string[] = []
    let next: string | undefined = `${path}?n=${PAGE}`
    while (next) {
      this.checkAborted()
      const res = await this.deps.client.request('GET', repo, next, { retry })
      if (res.status !== 200) {
        res.body.resume()
        if (out.length === 0 && [401, 403, 404].includes(res.status)) return undefined
        throw new UpstreamError(this.deps.client.name, `answered ${res.status} for ${path}`)
      }
      const page = JSON.parse((await readBytes(res.body, MAX_MANIFEST_BYTES)).toString('utf8'))
      const names = (page?.[field] ?? []) as unknown[]
      const fresh = names.filter((n): n is string => typeof n === 'string')
      out.push(...fresh)
      next = nextPage(String(res.headers.link ?? ''), path, fresh)
    }
    return out
  }
}

/** The next page's path: the Link header's, else `last=` after a full page. */
function nextPage(link: string, path: string, page: string[]): string | undefined {
  const m = /<([^>]+)>\s*;\s*rel="?next"?/.exec(link)
  if (m) {
    const url = new URL(m[1], 'http://upstream')
    return `${url.pathname}${url.search}`
  }
  if (page.length < PAGE) return undefined
  return `${path}?n=${PAGE}&last=${encodeURIComponent(page[page.length - 1])}`
}

/** The upstream could not be reached at all (no answer, or a server error). */
function unreachable(err: unknown): boolean {
  return (
    err instanceof UpstreamError &&
    (err.status === undefined || err.status >= 500 || err.status === 429)
  )
}
