// The repository names of one store, kept in memory and current (issue 17: `_catalog` at 10,000
// repositories). The first listing walks the layout once (a restart starts from what is on
// disk); after that RepoIndexes reports every repository it creates or removes (a push, an
// import, a mirror, GC removing an empty one), and each full walk other passes make (GC, scrub,
// dedupe) replaces the list, so a layout another tool copied in appears by the next such pass.
// Kept in the listing order (distribution-spec "Listing Tags": case-insensitive), so a page is
// a binary search and a slice, never a sort.

import type { Pace } from './catalog.js'

/** Case-insensitive order; names equal but for case keep a stable byte order between them. */
export function listingOrder(a: string, b: string): number {
  const x = a.toLowerCase()
  const y = b.toLowerCase()
  if (x !== y) return x < y ? -1 : 1
  return a < b ? -1 : a > b ? 1 : 0
}

/** The index of the first item of `sorted` (in listing order) after `last`. */
export function indexAfter(sorted: readonly string[], last: string): number {
  let lo = 0
  let hi = sorted.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (listingOrder(sorted[mid], last) <= 0) lo = mid + 1
    else hi = mid
  }
  return lo
}

export class RepoCatalog {
  private names?: string[]
  private building?: Promise<string[]>
  /** Creations and removals reported so far: a walk that saw fewer must not replace the list. */
  private changes = 0

  constructor(
    private readonly walk: (pace?: Pace) => Promise<string[]>,
    /** false where other processes create repositories too: every listing walks */
    private readonly kept = true,
  ) {}

  /** Every repository name, in listing order. Callers must not modify the result. */
  list(): Promise<readonly string[]> {
    if (!this.kept) return this.walk().then((found) => found.sort(listingOrder))
    if (this.names) return Promise.resolve(this.names)
    this.building ??= this.walked()
      .then(() => this.names!)
      .finally(() => (this.building = undefined))
    return this.building
  }

  /**
   * Walk the layout (the walk's own order) and keep what it found, unless a creation or removal
   * was reported meanwhile: the walk may have missed it, and the kept list has it.
   */
  async walked(pace?: Pace): Promise<string[]> {
    const before = this.changes
    const found = await this.walk(pace)
    if (this.changes === before) this.names = [...found].sort(listingOrder)
    else if (!this.names) return this.walked(pace) // changed during the first walk: look again
    return found
  }

  /** A repository now exists (its index.json or oci-layout was written). */
  added(repo: string): void {
    this.changes++
    if (!this.names) return
    const at = indexAfter(this.names, repo)
    if (this.names[at - 1] !== repo) this.names = this.spliced(at, 0, repo)
  }

  /** A repository is gone (GC removed its layout). */
  removed(repo: string): void {
    this.changes++
    if (!this.names) return
    const at = indexAfter(this.names, repo) - 1
    if (this.names[at] === repo) this.names = this.spliced(at, 1)
  }

  /** A new array: a listing already holding the old one keeps paging through what it saw. */
  private spliced(at: number, remove: number, ...insert: string[]): string[] {
    const next = this.names!.slice()
    next.splice(at, remove, ...insert)
    return next
  }
}
