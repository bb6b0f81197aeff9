// Garbage-collection passes over every repository (zot storage guide, "Garbage collection"):
// online, one repository at a time under that repository's own lock (docs/architecture.md §5.5), with
// a pause between repositories so pushes and pulls keep their share of a small machine.
import type { RetentionSettings } from '../config/index.js'
import type { Registry } from '../registry/index.js'
import { collectGarbage, type GcPolicy, type RepoGcResult } from './repo-gc.js'
import { matchesAny } from '../util/glob.js'

export interface GcPassResult {
  repositories: number
  manifests: number
  blobs: number
  bytes: number
  removedRepositories: string[]
  details: RepoGcResult[]
  ms: number
}

/** Totals since start, for the log and for metrics. */
export interface GcCounters {
  passes: number
  manifestsRemoved: number
  blobsRemoved: number
  bytesFreed: number
  lastPassMs: number
}

export interface CollectorOptions {
  registry: Registry
  delayMs: number
  retention: RetentionSettings
  log: (msg: string, fields?: Record<string, unknown>) => void
  /** pause between repositories; until the budget service exists, a fixed small breath */
  pause?: () => Promise<void>
}

export class GarbageCollector {
  readonly counters: GcCounters = {
    passes: 0,
    manifestsRemoved: 0,
    blobsRemoved: 0,
    bytesFreed: 0,
    lastPassMs: 0,
  }

  constructor(private readonly options: CollectorOptions) {}

  /** The policy one repository is collected under: the first retention policy that matches. */
  policyFor(repo: string, dryRun: boolean): GcPolicy {
    const { retention, delayMs } = this.options
    const match = retention.policies.find((p) => matchesAny(repo, p.repositories))
    return {
      delayMs,
      manifestDelayMs: retention.delayMs,
      deleteUntagged: match?.deleteUntagged ?? false,
      deleteReferrers: match?.deleteReferrers ?? false,
      dryRun,
      retentionDryRun: retention.dryRun,
    }
  }

  async runPass(
    options: { dryRun?: boolean; shouldStop?: () => boolean } = {},
  ): Promise<GcPassResult> {
    const began = performance.now()
    const dryRun = options.dryRun ?? false
    const result: GcPassResult = {
      repositories: 0,
      manifests: 0,
      blobs: 0,
      bytes: 0,
      removedRepositories: [],
      details: [],
      ms: 0,
    }
    const pause = this.options.pause ?? breathe
    for (const repo of await this.options.registry.repositories(pause)) {
      if (options.shouldStop?.()) break
      const one = await collectGarbage(this.options.registry, repo, this.policyFor(repo, dryRun))
      result.repositories++
      result.manifests += one.manifests.length
      result.blobs += one.blobs.length
      result.bytes += one.bytes
      if (one.repositoryRemoved) result.removedRepositories.push(repo)
      if (one.manifests.length || one.blobs.length || one.retainedByDryRun?.length)
        result.details.push(one)
      if (one.retainedByDryRun?.length) {
        this.options.log('retention dry run: would remove manifests', {
          repo,
          manifests: one.retainedByDryRun,
        })
      }
      await pause()
    }
    if (!dryRun && !options.shouldStop?.()) {
      // Shared copies whose last reference this pass (or an earlier one) removed.
      const swept = await this.options.registry.sweepSharedContent({
        minAgeMs: this.options.delayMs,
        shouldStop: options.shouldStop,
      })
      result.blobs += swept.removed
      result.bytes += swept.bytes
    }
    result.ms = Math.round(performance.now() - began)
    if (!dryRun) {
      this.counters.passes++
      this.counters.manifestsRemoved += result.manifests
      this.counters.blobsRemoved += result.blobs
      this.counters.bytesFreed += result.bytes
      this.counters.lastPassMs = result.ms
    }
    const { details: _details, ...summary } = result
    this.options.log(dryRun ? 'gc dry run' : 'gc pass', summary)
    return result
  }
}

/** Let queued requests run between repositories. */
function breathe(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}
