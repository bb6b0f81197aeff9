// `outpost sync --from`: seeding the local storage from an S3 target written by `sync --to` (or
// used by another Outpost as its storage). Everything goes in through the registry API, as a
// push would: blobs by a monolithic upload (hashed as they arrive), manifests by a manifest put
// (parsed, digest-checked, references required), children before the index that lists them,
// tags last. Incremental: a blob the local repository holds (verified) is not fetched again.
import { pipeline } from 'node:stream/promises'
import { PassThrough } from 'node:stream'
import { REF_NAME } from '../layout/index.js'
import type { RegistryRouter } from '../registry/index.js'
import type { StorageDriver } from '../storage/index.js'
import { layoutKeys } from '../layout/index.js'
import { snapshotRepo } from './closure.js'
import { eachRepository, type SyncOptions, type SyncReport } from './push.js'
import { RateLimit } from './streams.js'

export async function syncFrom(
  source: StorageDriver,
  repos: string[],
  router: RegistryRouter,
  options: SyncOptions = {},
): Promise<SyncReport> {
  const limit = new RateLimit(options.rate ?? Infinity)
  return eachRepository(repos, options, 'seeding a repository failed', (repo, report) =>
    seedRepo(source, repo, router, limit, report, options),
  )
}

async function seedRepo(
  source: StorageDriver,
  repo: string,
  router: RegistryRouter,
  limit: RateLimit,
  report: SyncReport,
  options: SyncOptions,
): Promise<boolean> {
  const shouldStop = options.shouldStop ?? (() => false)
  const snapshot = await snapshotRepo(source, repo)
  if (!snapshot) return false
  const registry = router.for(repo)
  for (const item of snapshot.items) {
    if (shouldStop()) return false
    const { manifest, digest } = item
    if (manifest) {
      // Idempotent: an identical manifest already stored changes nothing.
      await registry.manifests.put(repo, digest.toString(), manifest.bytes, manifest.mediaType, {
        origin: 'imported',
      })
      continue
    }
    if (await registry.blobs.stat(repo, digest)) {
      report.skipped++
      continue
    }
    await options.budget?.acquire(item.size, shouldStop)
    const body = new PassThrough()
    const fetched = pipeline(await source.read(layoutKeys.blob(repo, digest)), limit.stream(), body)
    await Promise.all([registry.uploads.putWhole(repo, digest, body), fetched])
    report.copied++
    report.bytes += item.size
  }
  for (const desc of snapshot.index.manifests) {
    const tag = desc.annotations?.[REF_NAME]
    if (tag === undefined) continue
    const bytes = snapshot.items.find((i) => i.digest.toString() === desc.digest)?.manifest?.bytes
    if (bytes)
      await registry.manifests.put(repo, tag, bytes, desc.mediaType, { origin: 'imported' })
  }
  report.indexes++
  options.log?.('repository seeded', { repo })
  return true
}
