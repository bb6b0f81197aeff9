// The storage lock (docs/architecture.md §4): one owner at a time, server or offline command. The file is
// created exclusively (O_EXCL), so two processes starting together cannot both win. A lock left
// by a crash is stale when its process is gone, when the pid now belongs to a different process
// (compared by start time), or when it was taken before the last boot (pids restart at boot).
import { randomUUID } from 'node:crypto'
import { link, readFile, rename, unlink, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { makeDirs } from '../../util/durable-fs.js'

interface LockOwner {
  pid: number
  holder: string
  bootId?: string
  startTime?: string
}

export class LockHeldError extends Error {
  constructor(readonly owner: string) {
    super(`storage is in use by ${owner}`)
    this.name = 'LockHeldError'
  }
}

async function bootId(): Promise<string | undefined> {
  return (
    (await readFile('/proc/sys/kernel/random/boot_id', 'utf8').catch(() => '')).trim() || undefined
  )
}

/** Field 22 of /proc/<pid>/stat: when the process started, in clock ticks since boot. */
async function startTime(pid: number): Promise<string | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '')
  // The command name (field 2) may hold spaces; count fields after its closing parenthesis.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

async function isStale(owner: LockOwner): Promise<boolean> {
  if (!Number.isInteger(owner.pid) || owner.pid <= 0) return true
  const boot = await bootId()
  if (owner.bootId && boot && owner.bootId !== boot) return true
  if (!alive(owner.pid)) return true
  if (owner.startTime && owner.startTime !== (await startTime(owner.pid))) return true
  return false
}

/** Take the lock at `path`; resolves with its release function. */
export async function acquireLock(path: string, holder: string): Promise<() => Promise<void>> {
  await makeDirs(dirname(path), false)
  const me: LockOwner = {
    pid: process.pid,
    holder,
    bootId: await bootId(),
    startTime: await startTime(process.pid),
  }
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      await writeFile(path, JSON.stringify(me), { flag: 'wx' })
      return async () => {
        await unlink(path).catch(() => {})
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
    const judged = await readFile(path, 'utf8').catch(() => '')
    let owner: LockOwner
    try {
      owner = JSON.parse(judged) as LockOwner
    } catch {
      // Unreadable: being written right now, or half-written by a process that died while
      // writing it. Give a live writer a moment; after that, judge it stale.
      if (attempt < 2) {
        await new Promise((r) => setTimeout(r, 50))
        continue
      }
      owner = { pid: 0, holder: 'unknown' }
    }
    if (!(await isStale(owner))) {
      throw new LockHeldError(`${owner.holder ?? 'another process'} (pid ${owner.pid})`)
    }
    // Move the stale lock aside under a unique name. If what we moved is not the lock we judged
    // stale, a racing process took over first: put its lock back and yield to it.
    const aside = `${path}.stale-${randomUUID()}`
    try {
      await rename(path, aside)
    } catch {
      continue
    }
    const moved = await readFile(aside, 'utf8').catch(() => '')
    if (moved !== judged) {
      await link(aside, path).catch(() => {})
      await unlink(aside).catch(() => {})
      throw new LockHeldError('another process that just took over a stale lock')
    }
    await unlink(aside).catch(() => {})
  }
  throw new LockHeldError('another process (lock keeps changing)')
}
