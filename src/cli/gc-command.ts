// `outpost gc [config.json] [--dry-run]`: one garbage-collection pass against the storage,
// offline: every store (the default one and each subpath), each with its own gcDelay and
// retention. --dry-run reads a read-only view (no lock, nothing written), so it also runs beside
// a server, and lists what the real pass would remove: the same lines, "would" in them.
import type { OutpostConfig } from '../config/index.js'
import { GarbageCollector, type GcPassResult } from '../gc/index.js'
import { storeLabel } from '../server/stores.js'
import { ReadOnlyStorageError } from '../storage/index.js'
import { OfflineError, withStorage, withStorageView, type OfflineStore } from './offline.js'

export async function runGcCommand(
  config: OutpostConfig,
  dryRun: boolean,
  out: (line: string) => void,
): Promise<GcPassResult> {
  const log = (msg: string, fields?: Record<string, unknown>) =>
    out(`${msg}${fields ? ` ${JSON.stringify(fields)}` : ''}`)
  const verb = dryRun ? 'would remove' : 'removed'
  const summary = (result: GcPassResult) =>
    `${dryRun ? 'dry run: ' : ''}${result.repositories} repositories, ${verb} ` +
    `${result.manifests} manifests and ${result.blobs} blobs, ${result.bytes} bytes ` +
    `${dryRun ? 'would be ' : ''}freed (${result.ms} ms)`
  const several = config.storage.subPaths !== undefined
  const pass = async (store: OfflineStore) => {
    const collector = new GarbageCollector({
      registry: store.registry,
      delayMs: store.config.gc.delayMs,
      retention: store.config.retention,
      log: () => {},
    })
    const result = await collector.runPass({ dryRun })
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
    for (const repo of result.removedRepositories)
      out(`${repo}: repository ${dryRun ? 'would be removed' : 'removed'} (empty)`)
    // With subPaths, each store's own line, then the total over all of them.
    if (several)
      out(`store ${storeLabel(store)} (${store.config.rootDirectory}): ${summary(result)}`)
    return result
  }
  let results: GcPassResult[]
  try {
    results = dryRun
      ? await withStorageView(config, pass)
      : await withStorage(config, 'gc', log, (store) =>
          pass({ route: store.route, config: store.config, registry: store.storage.registry }),
        )
  } catch (err) {
    if (!(err instanceof ReadOnlyStorageError)) throw err
    // A dry run met something only a write resolves (a damaged manifest the pass quarantines).
    throw new OfflineError(
      `gc --dry-run stopped: ${err.key} would have to be written (a damaged blob is ` +
        'quarantined); run "outpost scrub" to find and deal with it',
    )
  }
  const total = results.reduce(add)
  out(summary(total))
  return total
}

function add(a: GcPassResult, b: GcPassResult): GcPassResult {
  return {
    repositories: a.repositories + b.repositories,
    manifests: a.manifests + b.manifests,
    blobs: a.blobs + b.blobs,
    bytes: a.bytes + b.bytes,
    removedRepositories: [...a.removedRepositories, ...b.removedRepositories],
    details: [...a.details, ...b.details],
    ms: a.ms + b.ms,
  }
}
