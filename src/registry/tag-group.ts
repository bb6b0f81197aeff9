// Group commit of index.json (issue 17): a burst of concurrent tag pushes to one repository is
// one index.json write, not one each. A push joins the group waiting for the repository's lock;
// the first of the group takes the lock for all of them, applies every change in arrival order
// to one copy and writes it once. Each push's promise settles only after the write that holds
// its change, so with `commit` on a 201 still waits for the fsync that covers its own tag, and a
// crash loses either the whole group or none of it (the write is one atomic put).
import type { IndexDocument } from '../layout/index.js'
import type { RepoIndexes } from './repo-index.js'

export interface TagChange {
  /** Under the lock, before the write: checks that may refuse this push alone. */
  prepare(): Promise<void>
  /** Edit the copy (replace descriptors, never modify one); whether anything changed. */
  change(doc: IndexDocument): boolean
  /** Under the lock, after the write: bookkeeping that needs the change on disk. */
  written(): Promise<void>
}

interface Member {
  change: TagChange
  resolve: () => void
  reject: (err: unknown) => void
}

export class TagGroups {
  /** Per repository: the group that has not taken the lock yet (new pushes join it). */
  private readonly waiting = new Map<string, Member[]>()

  constructor(
    private readonly indexes: RepoIndexes,
    /** Under the lock, once per group after the write (the referrers' index.json mark). */
    private readonly afterWrite: (repo: string) => Promise<void>,
  ) {}

  /** Apply `change` to the repository's index.json in the next group write. */
  apply(repo: string, change: TagChange): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const member = { change, resolve, reject }
      const group = this.waiting.get(repo)
      if (group) return void group.push(member)
      const members = [member]
      this.waiting.set(repo, members)
      // A tag update removes nothing: it leaves other pushes' removal marks valid.
      this.indexes
        .locked(repo, () => this.commit(repo, members), false)
        .catch((err: unknown) => {
          for (const m of members) m.reject(err)
        })
    })
  }

  private async commit(repo: string, members: Member[]): Promise<void> {
    // Closed: pushes from now on wait for the next group (and the lock after this one).
    if (this.waiting.get(repo) === members) this.waiting.delete(repo)
    const ready: Member[] = []
    for (const m of members) {
      try {
        await m.change.prepare()
        ready.push(m)
      } catch (err) {
        m.reject(err)
      }
    }
    if (ready.length === 0) return
    await this.indexes.updateLocked(repo, (doc) => {
      let changed = false
      for (const m of ready) changed = m.change.change(doc) || changed
      return { changed, result: undefined }
    })
    const failed = new Map<Member, unknown>()
    for (const m of ready) {
      try {
        await m.change.written()
      } catch (err) {
        failed.set(m, err)
      }
    }
    await this.afterWrite(repo)
    for (const m of ready) failed.has(m) ? m.reject(failed.get(m)) : m.resolve()
  }
}
