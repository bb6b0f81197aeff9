// Durable-write primitives for the local filesystem. With commit on, a file reaches the disk
// before it is renamed into place, and the directories that changed are synced after, so a
// power cut leaves the old state or the new one (docs/architecture.md §5.3). With commit off these
// make no fsync calls at all; `fsyncCount` lets tests prove it.
import { mkdir, open, stat, type FileHandle } from 'node:fs/promises'
import { dirname } from 'node:path'

let calls = 0

/** How many fsync calls this process has made through this module. */
export function fsyncCount(): number {
  return calls
}

/** fsync an open file; every sync goes through here or fsyncPath, so fsyncCount sees it. */
export async function syncHandle(handle: FileHandle): Promise<void> {
  calls++
  await handle.sync()
}

export async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, 'r')
  try {
    await syncHandle(handle)
  } finally {
    await handle.close()
  }
}

/**
 * mkdir -p that, when `durable`, syncs the parent of every directory it creates, so the new
 * directory entries survive a power cut along with what is later renamed into them.
 */
export async function makeDirs(dir: string, durable: boolean): Promise<void> {
  const created = await createDirs(dir)
  if (durable) await syncCreatedDirs(created)
}

/** mkdir -p; returns the directories it created, innermost first. */
export async function createDirs(dir: string): Promise<string[]> {
  const missing: string[] = []
  let cursor = dir
  for (;;) {
    const info = await stat(cursor).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return null
      throw err
    })
    if (info) break
    missing.push(cursor)
    const parent = dirname(cursor)
    if (parent === cursor) break
    cursor = parent
  }
  // One mkdir per level, not mkdir -p: Node's recursive mkdir reports a read-only file system
  // (EROFS) as ENOENT, which would hide why the write failed.
  for (const path of [...missing].reverse()) {
    await mkdir(path).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err
    })
  }
  return missing
}

/** Sync the parent of each directory `createDirs` made, outermost first. */
export async function syncCreatedDirs(created: string[]): Promise<void> {
  for (const dir of [...created].reverse()) await fsyncPath(dirname(dir))
}
