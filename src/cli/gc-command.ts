// `outpost gc <config.json> [--dry-run]`: one garbage-collection pass against the storage, offline.
import type { OutpostConfig } from '../config/index.js'
import { GarbageCollector, type GcPassResult } from '../gc/index.js'
import { withStorage } from './offline.js'

export async function runGcCommand(
  config: OutpostConfig,
  dryRun: boolean,
  out: (line: string) => void,
): Promise<GcPassResult> {
  const log = (msg: string, fields?: Record<string, unknown>) =>
    out(`${msg}${fields ? ` ${JSON.stringify(fields)}` : ''}`)
  return withStorage(config, dryRun ? 'gc --dry-run' : 'gc', log, async (storage) => {
    const collector = new GarbageCollector({
      registry: storage.registry,
      delayMs: config.storage.gc.delayMs,
      retention: config.storage.retention,
      log: () => {},
    })
    const result = await collector.runPass({ dryRun })
    const verb = dryRun ? 'would remove' : 'removed'
    for (const repo of result.details) {
      out(
        `${repo.repo}: ${verb} ${repo.manifests.length} manifests, ${repo.blobs.length} blobs, ${repo.bytes} bytes`,
      )
      for (const digest of repo.manifests) out(`  manifest ${digest}`)
      for (const digest of repo.blobs) out(`  blob ${digest}`)
      // storage.retention.dryRun: what retention would remove is reported, and kept.
      for (const digest of repo.retainedByDryRun ?? [])
        out(`  manifest ${digest} kept: retention dry run would remove it`)
    }
    for (const repo of result.removedRepositories) out(`${repo}: repository removed (empty)`)
    out(
      `${dryRun ? 'dry run: ' : ''}${result.repositories} repositories, ${verb} ` +
        `${result.manifests} manifests and ${result.blobs} blobs, ${result.bytes} bytes ` +
        `${dryRun ? 'would be ' : ''}freed (${result.ms} ms)`,
    )
    return result
  })
}
