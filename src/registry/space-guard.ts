// The free-space reserve (storage.minFreeSpace): uploads are refused before they would push the
// free space on the storage below it, so a full disk never takes the device's own writes down
// with it. Drivers without a notion of free space (object stores) are not limited.
//
// A stream of unknown length (a PATCH without Content-Length) is checked as its bytes are
// written, not every few MiB: each chunk is admitted against the last free-space reading minus
// what was admitted since, and statfs(2) is read anew only when that margin could be crossed by
// the chunk, or the reading is older than READING_TTL_MS (other writers share the disk).
import { StorageFullError, type StorageDriver } from '../storage/index.js'
import { RegistryError } from './errors.js'

export type FreeSpaceSetting = { percent: number } | { bytes: number }

/** Admits the next `bytes` of a stream, or throws STORAGE_FULL (a promise only when it reads). */
export type Admit = (bytes: number) => void | Promise<void>

/**
 * A free-space reading answers later checks for this long, as long as it leaves REUSE_MARGIN
 * above the reserve: a small push makes several checks (open, each blob), and a statfs(2) per
 * request costs more than the bytes. Each reuse deducts what it let in, so the reading only errs
 * towards less free space.
 */
const READING_TTL_MS = 1000
const REUSE_MARGIN = 256 * 1024 * 1024

interface Reading {
  free: number
  total: number
  at: number
  /** bytes let in since the reading was taken, or still on their way to the disk then */
  spent: number
}

/** An open stream: what it admitted, and how to ask how much of that is on the disk. */
interface OpenStream {
  admitted: number
  landed: () => Promise<number>
}

export class SpaceGuard {
  private reading?: Reading
  /** streams being written right now (see streaming) */
  private readonly streams = new Set<OpenStream>()

  constructor(
    private readonly driver: StorageDriver,
    private readonly setting: FreeSpaceSetting,
  ) {}

  /**
   * Throws STORAGE_FULL when writing `incoming` more bytes would cross the reserve. With
   * `claim`, the bytes count as spent until the next reading; a stream's declared length is not
   * claimed (its chunks are, as they are admitted).
   */
  async check(incoming = 0, claim = true): Promise<void> {
    // A declared length beyond what a number can hold exactly is no size any storage has.
    if (!Number.isSafeInteger(incoming)) {
      throw new RegistryError('CONTENT_TOO_LARGE', `upload of ${incoming} bytes refused: too large`)
    }
    if (!this.driver.space) return
    const last = this.current()
    if (last && this.margin(last) - incoming >= REUSE_MARGIN) {
      if (claim) last.spent += incoming
      return
    }
    const reading = await this.read()
    if (this.margin(reading) - incoming < 0) throw this.full(reading)
    if (claim) reading.spent += incoming
  }

  /**
   * Run a streamed write whose every chunk goes through `admit` before it is written: the
   * reserve is never crossed, since each chunk is let in only when the margin holds it.
   * `landed` tells how many of the admitted bytes are on the disk (the staged file's growth).
   */
  async streaming<T>(
    landed: () => Promise<number>,
    task: (admit: Admit) => Promise<T>,
  ): Promise<T> {
    if (!this.driver.space) return task(() => {})
    const stream: OpenStream = { admitted: 0, landed }
    this.streams.add(stream)
    try {
      return await task((bytes) => this.admit(stream, bytes))
    } finally {
      this.streams.delete(stream)
    }
  }

  private admit(stream: OpenStream, bytes: number): void | Promise<void> {
    const last = this.current()
    if (last && this.margin(last) - bytes >= 0) {
      last.spent += bytes
      stream.admitted += bytes
      return
    }
    return this.read().then((reading) => {
      if (this.margin(reading) - bytes < 0) throw this.full(reading)
      reading.spent += bytes
      stream.admitted += bytes
    })
  }

  /** The last reading while it is recent enough to answer for the storage. */
  private current(): Reading | undefined {
    const last = this.reading
    return last && performance.now() - last.at < READING_TTL_MS ? last : undefined
  }

  private async read(): Promise<Reading> {
    // Bytes a stream admitted that are not on the disk yet (in its buffers) are not in a fresh
    // reading: ask each stream first, then read, so a byte landing in between counts twice
    // (towards less free space), never not at all.
    let unseen = 0
    for (const stream of this.streams) {
      const landed = await stream.landed().catch(() => 0)
      unseen += Math.max(0, stream.admitted - landed)
    }
    const { free, total } = await this.driver.space!()
    this.reading = { free, total, at: performance.now(), spent: unseen }
    return this.reading
  }

  /** Bytes that may still be written before the reserve is reached. */
  private margin(reading: Reading): number {
    return reading.free - reading.spent - this.reserve(reading.total)
  }

  private full(reading: Reading): RegistryError {
    const reserve = this.reserve(reading.total)
    return new RegistryError(
      'STORAGE_FULL',
      `upload refused: it would leave less than ${mib(reserve)} free on the storage ` +
        `(${mib(reading.free)} free now; storage.minFreeSpace keeps the rest for the system)`,
    )
  }

  private reserve(total: number): number {
    return 'percent' in this.setting ? (total * this.setting.percent) / 100 : this.setting.bytes
  }
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`
}

/** The storage is full, or an upload would cross the free-space reserve. */
export function isStorageFull(err: unknown): boolean {
  return (
    err instanceof StorageFullError || (err instanceof RegistryError && err.code === 'STORAGE_FULL')
  )
}
