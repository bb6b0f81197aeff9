// Small file system calls on the event loop (issue 17, docs/performance.md "Small images").
// Through libuv's thread pool every call is a hand-off: a wake-up of a pool thread, then of the
// event loop. For a put (open, write, close, rename of a manifest, a config or index.json) and for
// a stat (a blob HEAD, a manifest's blob check) the hand-offs cost several times the calls
// themselves: 7.8–9.4 ms of server CPU per small image through the pool against 3.8–5.2 ms
// inline (bench/profile-small.ts, 400 images at concurrency 8).
//
// A call inline blocks the event loop, and with it every request, for as long as it takes. Page
// cache writes and cached metadata take microseconds; the calls stay on the pool whenever they
// could wait for the device:
// - `commit`: fsync waits for the device. The driver makes no InlineFs when commit is on.
// - a streamed write in flight in this driver: the kernel pauses a writer once dirty pages pass
//   their limit (balance_dirty_pages), a rename can wait for a busy journal, and a stat that
//   misses the cache queues its read behind the write-back;
// - for COOL_DOWN_MS after an inline call was slow (someone else's writes, a cold cache, a slow
//   card): a put over PUT_SLOW_MS, a stat over STAT_SLOW_MS.
// A call that is merely expensive stays inline: where creating a file costs 0.3–1.5 ms of CPU (the
// development VM's root file system), four pool threads creating at once cost more in all than
// the event loop creating one after another; a rule that sent calls to the pool after a streak of
// 1 ms calls measured no better (docs/performance.md, "Small file system calls").
import {
  closeSync,
  openSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
  type Stats,
} from 'node:fs'

/** Largest put written inline: manifests, configs and index.json of a few hundred tags. */
export const INLINE_PUT_MAX_BYTES = 64 * 1024
/**
 * Four system calls into the page cache take tens of microseconds (a rename over an existing
 * file starts ext4's write-back of the new one: a few hundred); a time slice lost to another
 * process on a busy core is a few ms.
 */
const PUT_SLOW_MS = 10
/** A cached stat takes microseconds; one that reads an inode from an SD card, milliseconds. */
const STAT_SLOW_MS = 2
const COOL_DOWN_MS = 10_000

export interface InlineFsOptions {
  putSlowMs?: number
  statSlowMs?: number
  coolDownMs?: number
  /** a clock for tests */
  now?: () => number
}

export class InlineFs {
  private streams = 0
  private pooledUntil = 0
  private readonly putSlowMs: number
  private readonly statSlowMs: number
  private readonly coolDownMs: number
  private readonly now: () => number

  constructor(options: InlineFsOptions = {}) {
    this.putSlowMs = options.putSlowMs ?? PUT_SLOW_MS
    this.statSlowMs = options.statSlowMs ?? STAT_SLOW_MS
    this.coolDownMs = options.coolDownMs ?? COOL_DOWN_MS
    this.now = options.now ?? (() => performance.now())
  }

  /** Count a streamed write in flight until the returned function is called. */
  streaming(): () => void {
    this.streams++
    let done = false
    return () => {
      if (!done) this.streams--
      done = true
    }
  }

  /** Whether calls may run inline now (a put also needs mayPut). */
  allowed(): boolean {
    return this.streams === 0 && this.now() >= this.pooledUntil
  }

  /** Whether a put of `length` bytes may run inline now. */
  mayPut(length: number): boolean {
    return length <= INLINE_PUT_MAX_BYTES && this.allowed()
  }

  /**
   * Write `bytes` to `tmp` and rename it to `target`, synchronously. False, with nothing left
   * behind, when a directory is missing: the caller's pooled path creates it. Other errors throw
   * (the caller removes `tmp` and maps the error, as for a pooled put).
   */
  put(tmp: string, target: string, bytes: Uint8Array): boolean {
    return this.timed(this.putSlowMs, () => {
      let fd: number
      try {
        fd = openSync(tmp, 'w')
      } catch (err) {
        if (isMissing(err)) return false
        throw err
      }
      try {
        for (let at = 0; at < bytes.length;) at += writeSync(fd, bytes, at)
      } finally {
        closeSync(fd)
      }
      try {
        renameSync(tmp, target)
      } catch (err) {
        if (!isMissing(err)) throw err
        unlinkSync(tmp)
        return false
      }
      return true
    })
  }

  /** stat(2), synchronously: undefined when absent; ENOTDIR and other errors throw. */
  stat(path: string): Stats | undefined {
    return this.timed(this.statSlowMs, () => statSync(path, { throwIfNoEntry: false }))
  }

  private timed<T>(slowMs: number, call: () => T): T {
    const began = this.now()
    try {
      return call()
    } finally {
      if (this.now() - began > slowMs) this.pooledUntil = this.now() + this.coolDownMs
    }
  }
}

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | null)?.code === 'ENOENT'
}
