// Named locks for read-modify-write of shared state (docs/architecture.md §5.5). A name is a
// repository name (its index.json, its blobs under GC) or `_content/<digest>` (one shared copy of
// content on a store that keeps it once, see blob-store.ts). No lock spans two names.
//
// One process: an in-process mutex is enough. Several instances on one bucket: the lock must live
// where all of them see it (a DynamoDB lease, src/dynamo/), never in one process's memory.
import { KeyedLock } from './keyed-lock.js'

export interface Locks {
  /** Run `task` while holding the lock `name`; waits for the current holder. */
  run<T>(name: string, task: () => Promise<T>): Promise<T>
  /**
   * Optional: run `task` beside other shared holders of `name`, never beside an exclusive one
   * (blob publishes, which only add files). Without it, shared tasks take the lock exclusively.
   */
  runShared?<T>(name: string, task: () => Promise<T>): Promise<T>
  /** Stop background renewals and release what is held (server shutdown). */
  close?(): Promise<void>
}

/** The lock name of one piece of content kept once for every repository holding it. */
export function contentLockName(digest: string): string {
  return `_content/${digest}`
}

/** Locks held in this process's memory: correct while one process owns the storage. */
export class LocalLocks implements Locks {
  private readonly lock = new KeyedLock()

  run<T>(name: string, task: () => Promise<T>): Promise<T> {
    return this.lock.run(name, task)
  }

  runShared<T>(name: string, task: () => Promise<T>): Promise<T> {
    return this.lock.runShared(name, task)
  }
}
