// Importing an archive (oci-archive, docker-archive, OCI layout directory; plain or gzip) into a
// registry, in two steps. Read: one pass over the archive hashes every file as it streams and
// stages blobs in upload sessions, invisible to clients. Commit: only once the whole archive was
// read and every image it names checked (names, digests, diff_ids, manifests, references) are
// the blobs published and the manifests put, leaf first, tags last. So bad input (a truncated
// tar, a digest that does not match, an entry escaping the archive) costs nothing: the staged
// sessions are cancelled and nothing is left in the storage (docs/architecture.md §5.8).
// When a blob must be staged before the archive named its repository (index.json or
// manifest.json after the blobs, as skopeo writes them), a first pass reads the metadata only.
import { Collection, collect, NamesNeeded } from './collector.js'
import { ArchiveError, type EntrySource } from './entries.js'
import { formatOf, planDocker, planOci, targetsOf, type PlannedImage } from './import-plan.js'
import type { Target } from './names.js'
import type { RegistryAccess } from './registry-access.js'

export interface ImportProgress {
  phase: 'scan' | 'read' | 'commit'
  done: number
  total: number
}

export interface ImportOptions {
  access: RegistryAccess
  /** --repo NAME[:TAG] */
  target?: Target
  onProgress?: (p: ImportProgress) => void
}

export interface ImportedImage {
  repo: string
  tags: string[]
  digest: string
  mediaType: string
}

export async function importArchive(
  source: EntrySource,
  options: ImportOptions,
): Promise<ImportedImage[]> {
  const { access, target } = options
  const report = (phase: ImportProgress['phase'], done: number, total: number) =>
    options.onProgress?.({ phase, done, total })
  const pass = async (phase: 'scan' | 'read', collection: Collection) => {
    let done = 0
    report(phase, 0, source.total)
    await collect(source, collection, {
      access,
      // --repo, or the first repository the archive names once its metadata has been read
      stageRepo: () => {
        if (target?.repo) return target.repo
        const m = collection.metadata
        if (!m.has('index.json') && !m.has('manifest.json')) return undefined
        return targetsOf(collection, target)[0].repo
      },
      metadataOnly: phase === 'scan',
      uncompressed: () => !collection.metadata.has('index.json'),
      onBytes: (n) => report(phase, (done += n), source.total),
    })
    report(phase, done, source.total)
  }
  let collection = new Collection()
  try {
    await pass('read', collection)
  } catch (err) {
    await collection.abortAll()
    if (!(err instanceof NamesNeeded)) throw err
    // The names come after the blobs: learn them first, then read again.
    const scanned = new Collection()
    await pass('scan', scanned)
    collection = new Collection()
    for (const [k, v] of scanned.metadata) collection.metadata.set(k, v)
    try {
      await pass('read', collection)
    } catch (again) {
      await collection.abortAll()
      throw again
    }
  }
  try {
    const targets = targetsOf(collection, target)
    const images =
      formatOf(collection) === 'oci'
        ? planOci(collection, targets)
        : planDocker(collection, targets, target)
    return await commit(collection, images, access, (done, total) => report('commit', done, total))
  } catch (err) {
    await collection.abortAll()
    throw err
  }
}

/** Publish the planned images; on failure, undo what this import added (best effort). */
async function commit(
  collection: Collection,
  images: PlannedImage[],
  access: RegistryAccess,
  report: (done: number, total: number) => void,
): Promise<ImportedImage[]> {
  const repos = [...new Set(images.map((i) => i.repo))]
  const stageRepo = repos[0]
  const added: Array<{ repo: string; digest: string; manifest: boolean }> = []
  const committed = new Set<string>()
  const total = images.reduce((n, i) => n + i.blobs.length + i.children.length + 1, 0)
  let done = 0
  const step = () => report(++done, total)
  // Staged bytes live in the staging repository: publish there, then mount elsewhere.
  const inStage = async (digest: string): Promise<boolean> => {
    const c = collection.byDigest.get(digest)!
    if (c.present || committed.has(digest)) return true
    if (!c.staged) return false
    await c.staged.commit(digest)
    c.staged = undefined
    committed.add(digest)
    added.push({ repo: stageRepo, digest, manifest: false })
    return true
  }
  const putBlob = async (repo: string, digest: string) => {
    if (await access.hasBlob(repo, digest)) return
    const c = collection.byDigest.get(digest)
    if (!c) throw new ArchiveError(`the archive lacks blob ${digest}`)
    if (c.bytes) await access.putBlob(repo, digest, c.bytes)
    else if (!(await inStage(digest))) throw new ArchiveError(`the archive lacks blob ${digest}`)
    else if (repo === stageRepo) return
    else if (!(await access.mountBlob(repo, digest, stageRepo))) {
      throw new ArchiveError(
        `cannot place ${digest} in ${repo} (a repository in another store than ${stageRepo}): ` +
          'import each repository on its own with --repo',
      )
    }
    added.push({ repo, digest, manifest: false })
  }
  const putManifest = async (repo: string, reference: string, m: PlannedImage['top']) => {
    const existed = await access.hasManifest(repo, m.digest)
    await access.putManifest(repo, reference, m.bytes, m.mediaType)
    if (!existed) added.push({ repo, digest: m.digest, manifest: true })
  }
  try {
    for (const image of images) {
      for (const digest of image.blobs) {
        await putBlob(image.repo, digest)
        step()
      }
      for (const child of image.children) {
        await putManifest(image.repo, child.digest, child)
        step()
      }
      for (const tag of image.tags.length ? image.tags : [image.top.digest]) {
        await putManifest(image.repo, tag, image.top)
      }
      step()
    }
  } catch (err) {
    await collection.abortAll()
    for (const a of added.reverse()) {
      const undo = a.manifest
        ? access.deleteManifest(a.repo, a.digest)
        : access.deleteBlob(a.repo, a.digest)
      await undo.catch(() => {})
    }
    throw err
  }
  // Staged but not needed by any image (or already held): cancelled.
  await collection.abortAll()
  // Published in the staging repository only to be mounted elsewhere: not needed there.
  const stageNeeds = new Set(images.filter((i) => i.repo === stageRepo).flatMap((i) => i.blobs))
  for (const digest of committed) {
    if (!stageNeeds.has(digest)) await access.deleteBlob(stageRepo, digest).catch(() => {})
  }
  return images.map((i) => ({
    repo: i.repo,
    tags: i.tags,
    digest: i.top.digest,
    mediaType: i.top.mediaType,
  }))
}
