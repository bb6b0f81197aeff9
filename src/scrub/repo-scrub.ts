// Scrub of one repository (zot storage guide, "Scrub": hashes computed periodically so bit rot is
// caught early). Checks that the layout files parse, that every manifest reachable from
// index.json exists and hashes to its digest, and that every config and layer exists, has its
// descriptor's size and hashes to its digest. Bytes shared by hard links are hashed once per pass.
// Corrupt blobs are quarantined everywhere they are linked (see quarantine.ts).
import {
  absentChildren,
  layoutKeys,
  parseIndex,
  REF_NAME,
  type Descriptor,
  type IndexDocument,
} from '../layout/index.js'
import type { EngineDb } from '../engine-db/index.js'
import type { StorageDriver } from '../storage/index.js'
import { Digest } from '../registry/digest.js'
import type { Registry } from '../registry/registry.js'
import { hashStoredPaced, STOPPED } from '../registry/hashing.js'
import { parseManifest } from '../registry/manifest-rules.js'
import { isLost, quarantineEverywhere } from '../registry/quarantine.js'

export interface ScrubItem {
  repo: string
  /** the tag of the affected image, when the broken part hangs under a tagged manifest */
  tag?: string
  /** the manifest (image) affected */
  manifest?: string
  /** the blob found broken (a manifest, config or layer), when one is */
  blob?: string
  error: string
}

export interface RepoScrubResult {
  repo: string
  images: number
  ok: number
  /** every image checked (index.json entry), for a full listing */
  checked: Array<{ tag?: string; manifest: string; ok: boolean }>
  affected: ScrubItem[]
  bytesHashed: number
}

/** Per-pass memory of what was hashed, keyed by the bytes' identity, so shared bytes hash once. */
export type HashMemo = Map<string, string | null>

export interface ScrubContext {
  /** wait for the budget before hashing `bytes` more */
  pace: (bytes: number) => Promise<void>
  memo: HashMemo
  shouldStop: () => boolean
}

export interface RepoScrubDeps {
  driver: StorageDriver
  db: EngineDb
  log: (msg: string, fields?: Record<string, unknown>) => void
  /** forget cached parses/bytes of a digest that was found corrupt */
  forget: (repo: string, digest: string) => void
}

/** Verify one repository's layout, manifests and blobs (a scrub pass's unit). */
export function scrubRegistryRepository(
  registry: Registry,
  repo: string,
  ctx: ScrubContext,
): Promise<RepoScrubResult> {
  const { driver, db, log, manifests } = registry.parts
  const forget = (r: string, digest: string) => manifests.forget(r, digest)
  return scrubRepository({ driver, db, log, forget }, repo, ctx)
}

export async function scrubRepository(
  deps: RepoScrubDeps,
  repo: string,
  ctx: ScrubContext,
): Promise<RepoScrubResult> {
  const result: RepoScrubResult = {
    repo,
    images: 0,
    ok: 0,
    checked: [],
    affected: [],
    bytesHashed: 0,
  }
  const layoutError = await checkLayoutFile(deps.driver, repo)
  if (layoutError) result.affected.push({ repo, error: layoutError })
  let doc: IndexDocument
  try {
    doc = parseIndex(await deps.driver.get(layoutKeys.index(repo)), layoutKeys.index(repo))
  } catch (err) {
    result.affected.push({ repo, error: `index.json: ${(err as Error).message}` })
    return result
  }
  for (const desc of doc.manifests) {
    if (ctx.shouldStop()) break
    result.images++
    const tag = desc.annotations?.[REF_NAME]
    const before = result.affected.length
    await checkManifest(deps, repo, ctx, result, desc, { tag, manifest: desc.digest })
    const ok = result.affected.length === before
    result.checked.push({ tag, manifest: desc.digest, ok })
    if (ok) result.ok++
    else
      deps.log('scrub found a damaged image', {
        repo,
        tag,
        manifest: desc.digest,
        errors: result.affected.slice(before),
      })
  }
  return result
}

async function checkLayoutFile(driver: StorageDriver, repo: string): Promise<string | undefined> {
  try {
    const layout = JSON.parse((await driver.get(layoutKeys.ociLayout(repo))).toString('utf8'))
    if (typeof layout?.imageLayoutVersion !== 'string') return 'oci-layout: no imageLayoutVersion'
  } catch (err) {
    return `oci-layout: ${(err as Error).message}`
  }
  return undefined
}

type Where = Pick<ScrubItem, 'tag' | 'manifest'>

async function checkManifest(
  deps: RepoScrubDeps,
  repo: string,
  ctx: ScrubContext,
  result: RepoScrubResult,
  desc: Descriptor,
  where: Where,
): Promise<void> {
  if (!(await checkBlob(deps, repo, ctx, result, desc, where))) return
  const bytes = await deps.driver.get(layoutKeys.blob(repo, Digest.parse(desc.digest)))
  let parsed
  try {
    parsed = parseManifest(bytes, desc.mediaType)
  } catch (err) {
    result.affected.push({
      repo,
      ...where,
      blob: desc.digest,
      error: `manifest: ${(err as Error).message}`,
    })
    return
  }
  for (const blob of parsed.blobs) {
    const child = { mediaType: blob.mediaType, digest: blob.digest.toString(), size: blob.size }
    await checkBlob(deps, repo, ctx, result, child, where)
  }
  // Children absent on purpose (a mirror that took some platforms) are not damage, unless
  // they were stored once and lost (quarantined): then checkBlob reports them.
  const absent = absentChildren(desc)
  for (const m of parsed.manifests) {
    const child = { mediaType: m.mediaType, digest: m.digest.toString(), size: m.size }
    if (absent.has(child.digest) && !(await storedOrLost(deps, repo, m.digest))) continue
    await checkManifest(deps, repo, ctx, result, child, where)
  }
}

async function storedOrLost(deps: RepoScrubDeps, repo: string, digest: Digest): Promise<boolean> {
  if (isLost(deps.db, digest, repo)) return true
  return (await deps.driver.stat(layoutKeys.blob(repo, digest))) !== null
}

/** Exists, has the descriptor's size, hashes to its digest. False (and reported) otherwise. */
async function checkBlob(
  deps: RepoScrubDeps,
  repo: string,
  ctx: ScrubContext,
  result: RepoScrubResult,
  desc: Descriptor,
  where: Where,
  again = false,
): Promise<boolean> {
  const report = (error: string) => {
    result.affected.push({ repo, ...where, blob: desc.digest, error })
    return false
  }
  let digest: Digest
  try {
    digest = Digest.parse(desc.digest)
  } catch {
    return report('invalid digest')
  }
  const key = layoutKeys.blob(repo, digest)
  const info = await deps.driver.stat(key)
  if (!info) {
    return report(
      isLost(deps.db, digest, repo) ? 'quarantined: content was corrupt; push it again' : 'missing',
    )
  }
  // A size that differs from the descriptor is hashed too: truncated bytes are corrupt and go to
  // quarantine like any other; intact bytes under a wrong descriptor are only reported.
  const sizeError =
    info.size === desc.size ? undefined : `size ${info.size}, descriptor says ${desc.size}`
  const identity = info.identity ?? key
  let actual = ctx.memo.get(identity)
  if (actual === undefined) {
    const hashed = await hashStoredPaced(
      deps.driver,
      key,
      digest.algorithm,
      ctx.pace,
      ctx.shouldStop,
    )
    // Stopping (shutdown): nothing was learnt; the repository is scrubbed again on resume.
    if (hashed === STOPPED) return true
    result.bytesHashed += hashed.bytes
    actual = hashed.actual
    ctx.memo.set(identity, actual)
  }
  if (actual === null) return report(sizeError ?? 'unreadable')
  if (actual === digest.toString()) return sizeError ? report(sizeError) : true
  // A verified upload may have replaced the file while it was hashed: that file is not the one
  // that failed, so it stays, and is checked in turn (once).
  const lost = await quarantineEverywhere(deps, repo, digest, info.identity)
  if (lost.length === 0 && !again) return checkBlob(deps, repo, ctx, result, desc, where, true)
  // Every repository that lost the bytes forgets them, or a cached manifest would still serve.
  for (const r of new Set([repo, ...lost])) deps.forget(r, digest.toString())
  const mismatch = `content hashes to ${actual}`
  return report(sizeError ? `${sizeError}; ${mismatch}` : `digest mismatch: ${mismatch}`)
}
