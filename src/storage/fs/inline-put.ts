// Small atomic writes on the event loop (issue 17, docs/performance.md "Small images"). Through
// the thread pool a put is four hand-offs (open, write, close, rename), each a wake-up of a pool
// thread and then of the event loop; for a manifest, a config or index.json the hand-offs cost
// several times the system calls themselves: 7.8–9.4 ms of server CPU per small image through the
// pool against 5.6–5.8 ms inline (bench/profile-small.ts, 400 images at concurrency 8).
//
// Inline writes only reach the page cache; they would block the event loop, and with it every
// request, in two cases, and this module keeps puts on the pool in both:
// - `commit`: fsync waits for the device. The driver makes no InlinePuts when commit is on.
// - write-back pressure: the kernel pauses a writer once dirty pages pass their limit
//   (balance_dirty_pages), and a rename can wait for a busy journal. A streamed write in flight
//   in this driver is the likely source, so none runs inline meanwhile; and an inline put that
//   took longer than SLOW_MS (someone else's writes, a slow card) sends puts back to the pool for
//   COOL_DOWN_MS.
import { closeSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs'

/** Largest put written inline: manifests, configs and index.json of a few thousand tags. */
export const INLINE_PUT_MAX_BYTES = 64 * 1024
/**
 * An inline put slower than this means the storage is under pressure: four system calls into
 * the page cache take tens of microseconds, a scheduler's time slice on a busy core a few ms.
 */
const SLOW_MS = 10
const COOL_DOWN_MS = 10_000

export interface InlinePutOptions {
  slowMs?: number
  coolDownMs?: number
  /** a clock for tests */
  now?: () => number
}

export class InlinePuts {
  private streams = 0
  private pooledUntil = 0
  private readonly slowMs: number
  private readonly coolDownMs: number
  private readonly now: () => number

  constructor(options: InlinePutOptions = {}) {
    this.slowMs = options.slowMs ?? SLOW_MS
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

  /** Whether a put of `length` bytes may run inline now. */
  allows(length: number): boolean {
    return length <= INLINE_PUT_MAX_BYTES && this.streams === 0 && this.now() >= this.pooledUntil
  }

  /**
   * Write `bytes` to `tmp` and rename it to `target`, synchronously. False, with nothing left
   * behind, when a directory is missing: the caller's pooled path creates it. Other errors throw
   * (the caller removes `tmp` and maps the error, as for a pooled put).
   */
  put(tmp: string, target: string, bytes: Uint8Array): boolean {
    const began = this.now()
    try {
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
    } finally {
      if (this.now() - began > this.slowMs) this.pooledUntil = this.now() + this.coolDownMs
    }
  }
}

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | null)?.code === 'ENOENT'
}
