// The subject -> referrers index behind GET /v2/<name>/referrers/<digest> (distribution-spec
// "Listing Referrers"), kept in the engine index at manifest PUT and DELETE. Each repository
// remembers which index.json state its records describe; when that file changed behind our back
// (a layout copied in, an index lost or rebuilt), the repository is re-indexed before answering.
import type { Descriptor } from '../layout/index.js'
import type { EngineDb, ReferrerRecord } from '../engine-db/index.js'
import type { ParsedManifest } from './manifest-rules.js'
import { sameFile, type RepoIndexes } from './repo-index.js'

const FACT = 'referrers-of'

interface IndexState {
  size: number
  mtimeMs: number
  identity?: string
}

export interface ReferrersOptions {
  db: EngineDb
  indexes: RepoIndexes
  /** parse a stored manifest; undefined when it is missing or not a manifest */
  parse: (repo: string, desc: Descriptor) => Promise<ParsedManifest | undefined>
}

export class Referrers {
  constructor(private readonly options: ReferrersOptions) {}

  async record(repo: string, subject: string, record: ReferrerRecord): Promise<void> {
    await this.options.db.putReferrer(repo, subject, record)
  }

  async forget(repo: string, subject: string, digest: string): Promise<void> {
    await this.options.db.deleteReferrer(repo, subject, digest)
  }

  /** Note that the records now describe the current index.json (call under the repo lock). */
  async markCurrent(repo: string): Promise<void> {
    const info = await this.options.indexes.stat(repo)
    // Under the repository's lock: not waited for (EngineDb.background); a fact lost to a crash
    // only costs a re-index of the referrers.
    const { db } = this.options
    if (info)
      db.background(
        db.setRepoFact(repo, FACT, {
          size: info.size,
          mtimeMs: info.mtimeMs,
          identity: info.identity,
        }),
      )
  }

  async list(repo: string, subject: string, artifactType?: string): Promise<ReferrerRecord[]> {
    await this.ensureCurrent(repo)
    const all = this.options.db.referrers(repo, subject)
    return artifactType === undefined ? all : all.filter((r) => r.artifactType === artifactType)
  }

  async ensureCurrent(repo: string): Promise<void> {
    if (await this.isCurrent(repo)) return
    await this.options.indexes.locked(repo, async () => {
      if (!(await this.isCurrent(repo))) await this.reindexLocked(repo)
    })
  }

  private async isCurrent(repo: string): Promise<boolean> {
    const info = await this.options.indexes.stat(repo)
    if (!info) return true // no repository, no referrers
    const known = this.options.db.getRepoFact<IndexState>(repo, FACT)
    return known !== undefined && sameFile(known, info)
  }

  private async reindexLocked(repo: string): Promise<void> {
    const { db, indexes, parse } = this.options
    await db.clearReferrers(repo)
    const doc = await indexes.read(repo)
    // Every record written before the listing reads them (a range read sees committed records
    // only), but in one commit rather than one each.
    const writes: Array<Promise<boolean>> = []
    for (const desc of doc?.manifests ?? []) {
      const parsed = await parse(repo, desc)
      if (!parsed?.subject) continue
      writes.push(db.putReferrer(repo, parsed.subject.digest.toString(), referrerOf(desc, parsed)))
    }
    await Promise.all(writes)
    await this.markCurrent(repo)
  }
}

/** The descriptor the referrers API lists (distribution-spec "Listing Referrers"). */
export function referrerOf(desc: Descriptor, parsed: ParsedManifest): ReferrerRecord {
  return {
    mediaType: desc.mediaType,
    digest: desc.digest,
    size: desc.size,
    ...(parsed.artifactType !== undefined && { artifactType: parsed.artifactType }),
    ...(parsed.annotations !== undefined && { annotations: parsed.annotations }),
  }
}
