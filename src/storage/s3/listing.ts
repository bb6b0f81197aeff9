// Direct children of a prefix, from flat (delimiter-less) key listings, streamed in lexical
// order. S3 lists keys in byte order, which is not the order of child names: the key "c.txt"
// sorts before "c/x" ('.' < '/'), yet the child "c" sorts before "c.txt". A name is therefore
// held back until no later key can produce a smaller one, which keeps only a few names pending.
import type { ListEntry } from '../driver.js'

export interface KeyPage {
  keys: string[]
  /** more keys follow the last one of this page */
  truncated: boolean
}

/** Keys under `base` strictly after `startAfter` (S3's ListObjectsV2 StartAfter). */
export type PageFetcher = (startAfter: string | undefined) => Promise<KeyPage>

/**
 * Greater than every ASCII key that starts with a given prefix, so a StartAfter of
 * `<child>/` + this skips the child's whole subtree. (Registry keys are ASCII.)
 */
const AFTER_SUBTREE = '\u{10FFFF}'

/**
 * The smallest child name a key after one whose child is `name` can still have: a later key
 * "p/..." yields the smaller name "p" only when "p" is a proper prefix of `name` followed by a
 * character below '/' (as "c" is in "c.txt").
 */
function lowestLaterName(name: string): string {
  for (let i = 1; i < name.length; i++) if (name[i] < '/') return name.slice(0, i)
  return name
}

function childOf(key: string, base: string): { name: string; nested: boolean } {
  const rest = key.slice(base.length)
  const slash = rest.indexOf('/')
  return slash === -1 ? { name: rest, nested: false } : { name: rest.slice(0, slash), nested: true }
}

function* drain(pending: Map<string, boolean>, below: string | null): Generator<ListEntry> {
  const ready = [...pending.keys()].filter((n) => below === null || n < below).sort()
  for (const name of ready) {
    yield { name, isPrefix: pending.get(name) === true }
    pending.delete(name)
  }
}

export async function* childrenOf(base: string, fetchPage: PageFetcher): AsyncGenerator<ListEntry> {
  // name -> has children; a name that is both an object and a prefix is listed once, as a prefix
  const pending = new Map<string, boolean>()
  let startAfter: string | undefined
  for (;;) {
    const page = await fetchPage(startAfter)
    // Sorted here because some servers (s3rver) return a page in directory-walk order.
    const keys = page.keys.filter((k) => k.length > base.length && k.startsWith(base)).sort()
    for (const key of keys) {
      const { name, nested } = childOf(key, base)
      if (name === '') continue // "base//x" has no child name a slash path can express
      pending.set(name, pending.get(name) === true || nested)
      yield* drain(pending, lowestLaterName(name))
    }
    if (!page.truncated || keys.length === 0) break
    // Start after the last key, or after the last child's whole subtree when it is a prefix.
    const lastKey = keys[keys.length - 1]
    const last = childOf(lastKey, base)
    const next = last.nested && last.name !== '' ? `${base}${last.name}/${AFTER_SUBTREE}` : lastKey
    if (startAfter !== undefined && next <= startAfter) {
      throw new Error(`listing of ${base} did not advance past ${startAfter}`)
    }
    startAfter = next
  }
  yield* drain(pending, null)
}
