// The free-space reserve (storage.minFreeSpace): uploads are refused before they would push the
// free space on the storage below it, so a full disk never takes the device's own writes down
// with it. Drivers without a notion of free space (object stores) are not limited.
import type { StorageDriver } from '../storage/index.js'
import { RegistryError } from './errors.js'

export type FreeSpaceSetting = { percent: number } | { bytes: number }

/** How often a streamed upload of unknown length re-checks the reserve. */
export const RECHECK_BYTES = 8 * 1024 * 1024

/**
 * A free-space reading answers later checks for this long, as long as it leaves REUSE_MARGIN
 * above the reserve: a small push makes several checks (open, each blob), and a statfs(2) per
 * request costs more than the bytes. Each reuse deducts what it let in, so the reading only errs
 * towards less free space; streams re-read it as they go (`fresh`).
 */
const READING_TTL_MS = 1000
const REUSE_MARGIN = 256 * 1024 * 1024

interface Reading {
  free: number
  total: number
  at: number
}

export class SpaceGuard {
  private reading?: Reading

  constructor(
    private readonly driver: StorageDriver,
    private readonly setting: FreeSpaceSetting,
  ) {}

  /**
   * Throws STORAGE_FULL when writing `incoming` more bytes would cross the reserve. `fresh`
   * always reads the storage anew (a streaming upload's periodic re-check).
   */
  async check(incoming = 0, fresh = false): Promise<void> {
    // A declared length beyond what a number can hold exactly is no size any storage has.
    if (!Number.isSafeInteger(incoming)) {
      throw new RegistryError('CONTENT_TOO_LARGE', `upload of ${incoming} bytes refused: too large`)
    }
    if (!this.driver.space) return
    const now = performance.now()
    const last = this.reading
    if (!fresh && last && now - last.at < READING_TTL_MS) {
      if (last.free - incoming - this.reserve(last.total) >= REUSE_MARGIN) {
        last.free -= incoming
        return
      }
    }
    const { free, total } = await this.driver.space()
    this.reading = { free: free - incoming, total, at: now }
    const reserve = this.reserve(total)
    if (free - incoming < reserve) {
      throw new RegistryError(
        'STORAGE_FULL',
        `upload refused: it would leave less than ${mib(reserve)} free on the storage ` +
          `(${mib(free)} free now; storage.minFreeSpace keeps the rest for the system)`,
      )
    }
  }

  private reserve(total: number): number {
    return 'percent' in this.setting ? (total * this.setting.percent) / 100 : this.setting.bytes
  }
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`
}
