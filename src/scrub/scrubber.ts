// Scrub passes over every repository, paced by the budget service, resumable after a shutdown,
// and reported: the last report is kept in the engine index (GET /v2/_outpost/scrub, `outpost
// scrub`), with counters for metrics.
import type { Budget } from '../budget/index.js'
import type { EngineDb } from '../engine-db/index.js'
import type { Registry } from '../registry/index.js'
import {
  scrubRegistryRepository,
  type HashMemo,
  type RepoScrubResult,
  type ScrubItem,
} from './repo-scrub.js'

export interface ScrubReport {
  startedAt: string
  endedAt?: string
  /** false while running, or when a shutdown interrupted the pass */
  complete: boolean
  repositories: number
  images: number
  ok: number
  affectedCount: number
  bytesHashed: number
  affected: ScrubItem[]
}

export interface ScrubCounters {
  passes: number
  bytesHashed: number
  affected: number
}

interface Progress {
  /** the last repository fully scrubbed in the unfinished pass, and the report so far */
  after?: string
  report?: ScrubReport
}

const PROGRESS = 'scrub-progress'
const LAST_REPORT = 'scrub-report'
/** At most this many affected items are kept in a report (the counts stay exact). */
const MAX_ITEMS = 1000

export interface ScrubberOptions {
  registry: Registry
  db: EngineDb
  budget: Budget
  log: (msg: string, fields?: Record<string, unknown>) => void
}

export class Scrubber {
  readonly counters: ScrubCounters = { passes: 0, bytesHashed: 0, affected: 0 }
  private current?: ScrubReport

  constructor(private readonly options: ScrubberOptions) {}

  /**
   * The pass in progress; else the last completed pass, with the partial report of a pass that
   * a shutdown interrupted (it resumes after the next start).
   */
  lastReport(): { running: boolean; report?: ScrubReport; interrupted?: ScrubReport } {
    if (this.current) return { running: true, report: this.current }
    const interrupted = this.options.db.getMeta<Progress>(PROGRESS)?.report
    return {
      running: false,
      report: this.options.db.getMeta<ScrubReport>(LAST_REPORT),
      ...(interrupted && { interrupted }),
    }
  }

  /** True when a pass was interrupted and should resume soon after start. */
  interrupted(): boolean {
    return this.options.db.getMeta<Progress>(PROGRESS)?.report !== undefined
  }

  /**
   * One pass over every repository; `onRepository` sees each repository's full result (the CLI
   * lists every image from it).
   */
  async runPass(
    shouldStop: () => boolean = () => false,
    onRepository?: (result: RepoScrubResult) => void,
  ): Promise<ScrubReport> {
    const { registry, db, budget, log } = this.options
    const progress = db.getMeta<Progress>(PROGRESS) ?? {}
    const report: ScrubReport = progress.report ?? {
      startedAt: new Date().toISOString(),
      complete: false,
      repositories: 0,
      images: 0,
      ok: 0,
      affectedCount: 0,
      bytesHashed: 0,
      affected: [],
    }
    if (progress.after !== undefined) log('scrub pass resuming', { after: progress.after })
    this.current = report
    const memo: HashMemo = new Map()
    const ctx = { memo, shouldStop, pace: (bytes: number) => budget.acquire(bytes, shouldStop) }
    try {
      // One unit of the budget per directory of the walk, and per repository scrubbed.
      const step = () => budget.acquire(0, shouldStop)
      for (const repo of await registry.repositories(step)) {
        if (progress.after !== undefined && repo <= progress.after) continue
        await step()
        if (shouldStop()) return report
        const one = await scrubRegistryRepository(registry, repo, ctx)
        if (shouldStop()) return report // an unfinished repository is scrubbed again on resume
        onRepository?.(one)
        report.repositories++
        report.images += one.images
        report.ok += one.ok
        report.bytesHashed += one.bytesHashed
        report.affectedCount += one.affected.length
        report.affected.push(...one.affected.slice(0, MAX_ITEMS - report.affected.length))
        this.counters.bytesHashed += one.bytesHashed
        this.counters.affected += one.affected.length
        await db.setMeta(PROGRESS, { after: repo, report } satisfies Progress)
      }
      report.complete = true
      report.endedAt = new Date().toISOString()
      this.counters.passes++
      await db.setMeta(LAST_REPORT, report)
      await db.setMeta(PROGRESS, {} satisfies Progress)
      const { affected: _items, ...summary } = report
      log(report.affectedCount ? 'scrub pass found damage' : 'scrub pass clean', summary)
      return report
    } finally {
      this.current = undefined
    }
  }
}
