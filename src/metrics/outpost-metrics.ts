// The Prometheus metrics of one server (zot's names under `outpost_`), on a registry of their own
// so that several servers in one process (tests) never share counters. Request metrics are
// observed as requests finish; GC, scrub, budget and storage figures are read from their owners'
// counters when Prometheus scrapes, so the owners know nothing of prom-client.
import type { StatsFs } from 'node:fs'
import { statfs } from 'node:fs/promises'
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { BudgetCounters } from '../budget/index.js'
import type { GcCounters } from '../gc/collector.js'
import type { ScrubCounters } from '../scrub/index.js'

/** Repositories labelled by name before the rest are counted under "other": bounded series. */
export const MAX_REPOSITORY_LABELS = 100
export const OTHER_REPOSITORY = 'other'

/** What the scrape-time metrics read: each store's upkeep counters, looked up afresh each time. */
export interface MetricSource {
  /** "default", or the subpath's route ("/a") */
  store: string
  /** a directory on the store's filesystem (the storage root) */
  root: string
  gc: () => GcCounters
  scrub: () => ScrubCounters | undefined
  budget: () => BudgetCounters
}

type Labels = Record<string, string>
type Sample = [Labels, number]

export class OutpostMetrics {
  readonly registry = new Registry()
  private readonly requests: Counter<'method' | 'code'>
  private readonly latency: Histogram<'method' | 'route'>
  private readonly uploads: Counter<'repo'>
  private readonly uploadBytes: Counter<'repo'>
  private readonly downloads: Counter<'repo'>
  private readonly downloadBytes: Counter<'repo'>
  private readonly repositories = new Set<string>()
  private sources: () => MetricSource[] = () => []

  constructor(options: { maxRepositories?: number; defaults?: boolean } = {}) {
    this.maxRepositories = options.maxRepositories ?? MAX_REPOSITORY_LABELS
    const registers = [this.registry]
    // process_* and nodejs_* (CPU, RSS, heap, event-loop lag, handles), prefixed like zot's.
    if (options.defaults !== false) collectDefaultMetrics({ register: this.registry })
    this.requests = new Counter({
      name: 'outpost_http_requests_total',
      help: 'HTTP requests answered, by method and status code',
      labelNames: ['method', 'code'],
      registers,
    })
    this.latency = new Histogram({
      name: 'outpost_http_request_duration_seconds',
      help: 'HTTP request latency by method and route template',
      labelNames: ['method', 'route'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
      registers,
    })
    const perRepo = (name: string, help: string) =>
      new Counter({ name, help, labelNames: ['repo'], registers })
    this.uploads = perRepo('outpost_repo_uploads_total', 'manifests pushed, per repository')
    this.uploadBytes = perRepo(
      'outpost_repo_upload_bytes_total',
      'bytes received in blob uploads and manifest pushes, per repository',
    )
    this.downloads = perRepo('outpost_repo_downloads_total', 'manifests pulled, per repository')
    this.downloadBytes = perRepo(
      'outpost_repo_download_bytes_total',
      'bytes sent in blob and manifest downloads, per repository',
    )
    this.scraped()
  }

  private readonly maxRepositories: number

  /** Where the scrape-time figures come from (the running server's stores). */
  attach(sources: () => MetricSource[]): void {
    this.sources = sources
  }

  observeRequest(method: string, code: number, route: string, seconds: number): void {
    this.requests.inc({ method, code: String(code) })
    this.latency.observe({ method, route }, seconds)
  }

  /** A manifest push (`image`) or blob upload bytes to `repo`. */
  observeUpload(repo: string, bytes: number, image: boolean): void {
    const label = this.repoLabel(repo)
    if (image) this.uploads.inc({ repo: label })
    if (bytes > 0) this.uploadBytes.inc({ repo: label }, bytes)
  }

  /** A manifest pull (`image`) or blob download bytes from `repo`. */
  observeDownload(repo: string, bytes: number, image: boolean): void {
    const label = this.repoLabel(repo)
    if (image) this.downloads.inc({ repo: label })
    if (bytes > 0) this.downloadBytes.inc({ repo: label }, bytes)
  }

  /** The Prometheus text exposition. */
  async text(): Promise<string> {
    return this.registry.metrics()
  }

  get contentType(): string {
    return this.registry.contentType
  }

  /** The first repositories seen keep their names; the rest share one label. */
  private repoLabel(repo: string): string {
    if (this.repositories.has(repo)) return repo
    if (this.repositories.size >= this.maxRepositories) return OTHER_REPOSITORY
    this.repositories.add(repo)
    return repo
  }

  /** Counters and gauges whose values are read from their owners at scrape time. */
  private scraped(): void {
    const each = (read: (s: MetricSource) => number | undefined) => (): Sample[] =>
      this.sources().flatMap((s) => {
        const value = read(s)
        return value === undefined ? [] : [[{ store: s.store }, value] as Sample]
      })
    const counter = (name: string, help: string, read: () => Sample[], labels = ['store']) =>
      this.readOnScrape(Counter, name, help, labels, read)
    const gauge = (name: string, help: string, read: () => Sample[] | Promise<Sample[]>) =>
      this.readOnScrape(Gauge, name, help, ['store'], read)

    counter(
      'outpost_gc_runs_total',
      'completed GC passes',
      each((s) => s.gc().passes),
    )
    counter(
      'outpost_gc_deleted_manifests_total',
      'manifests removed by GC (retention)',
      each((s) => s.gc().manifestsRemoved),
    )
    counter(
      'outpost_gc_deleted_blobs_total',
      'blobs removed by GC (configs, layers; a removed manifest counts once, as a manifest)',
      each((s) => s.gc().blobsRemoved),
    )
    counter(
      'outpost_gc_freed_bytes_total',
      'bytes freed by GC',
      each((s) => s.gc().bytesFreed),
    )
    gauge(
      'outpost_gc_last_duration_seconds',
      'duration of the last GC pass',
      each((s) => s.gc().lastPassMs / 1000),
    )
    counter(
      'outpost_scrub_runs_total',
      'completed scrub passes',
      each((s) => s.scrub()?.passes),
    )
    counter(
      'outpost_scrub_bytes_hashed_total',
      'bytes verified by scrub',
      each((s) => s.scrub()?.bytesHashed),
    )
    counter(
      'outpost_scrub_affected_total',
      'damaged or missing blobs and manifests found by scrub',
      each((s) => s.scrub()?.affected),
    )
    gauge('outpost_storage_used_bytes', 'bytes used on the storage filesystem', () =>
      this.filesystems((fs) => (fs.blocks - fs.bfree) * fs.bsize),
    )
    gauge('outpost_storage_available_bytes', 'bytes available on the storage filesystem', () =>
      this.filesystems((fs) => fs.bavail * fs.bsize),
    )
    // One budget is shared by all stores: report it once.
    const budget = () => this.sources()[0]?.budget()
    const reasons = (pick: (b: BudgetCounters) => Record<string, number>) => (): Sample[] => {
      const b = budget()
      return b ? Object.entries(pick(b)).map(([reason, v]) => [{ reason }, v] as Sample) : []
    }
    counter(
      'outpost_budget_throttles_total',
      'times background work was throttled, by reason',
      reasons((b) => b.throttles),
      ['reason'],
    )
    counter(
      'outpost_budget_paused_seconds_total',
      'time background work spent paused, by reason',
      reasons((b) => scale(b.pausedMs, 1 / 1000)),
      ['reason'],
    )
    counter(
      'outpost_budget_io_wait_seconds_total',
      'time background work waited for its I/O allowance',
      () => (budget() ? [[{}, budget()!.ioWaitMs / 1000]] : []),
      [],
    )
  }

  private async filesystems(pick: (fs: StatsFs) => number) {
    const samples: Sample[] = []
    for (const s of this.sources()) {
      const fs = await statfs(s.root).catch(() => undefined)
      if (fs) samples.push([{ store: s.store }, pick(fs)])
    }
    return samples
  }

  private readOnScrape(
    Kind: typeof Counter | typeof Gauge,
    name: string,
    help: string,
    labelNames: string[],
    read: () => Sample[] | Promise<Sample[]>,
  ): void {
    new (Kind as typeof Gauge)({
      name,
      help,
      labelNames,
      registers: [this.registry],
      async collect() {
        const samples = await read()
        // A counter has no set(): reset and add the owner's running total instead.
        const metric = this as unknown as {
          reset(): void
          set?: (labels: Labels, value: number) => void
          inc: (labels: Labels, value: number) => void
        }
        metric.reset()
        for (const [labels, value] of samples) {
          if (metric.set) metric.set(labels, value)
          else metric.inc(labels, value)
        }
      },
    })
  }
}

function scale(record: Record<string, number>, factor: number): Record<string, number> {
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [k, v * factor]))
}
