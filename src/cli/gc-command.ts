// `outpost gc <config.json> [--dry-run]`: one garbage-collection pass against the storage, offline.
// It takes the storage lock, so it refuses while a server (or another command) holds the storage.
import { stat } from 'node:fs/promises'
import type { OutpostConfig } from '../config/index.js'
import { FsDriver } from '../fsync/index.js'
import { GarbageCollector, type GcPassResult } from '../gc/index.js'
import { ownStorage } from '../registry/index.js'
import { RootMissingError } from '../server/server.js'

export async function runGcCommand(
  config: OutpostConfig,
  dryRun: boolean,
  out: (line: string) => void,
): Promise<GcPassResult> {
  const root = config.storage.rootDirectory
  if (!(await stat(root).catch(() => null))?.isDirectory()) throw new RootMissingError(root)
  const storage = await ownStorage({
    driver: new FsDriver({ root, commit: config.storage.commit }),
    localRoot: root,
    commit: config.storage.commit,
    log: (msg, fields) => out(`${msg}${fields ? ` ${JSON.stringify(fields)}` : ''}`),
    holder: dryRun ? 'gc --dry-run' : 'gc',
    dedupe: config.storage.dedupe,
  })
  try {
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
  } finally {
    await storage.close()
  }
}
