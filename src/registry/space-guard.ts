// The free-space reserve (storage.minFreeSpace): uploads are refused before they would push the
// free space on the storage below it, so a full disk never takes the device's own writes down
// with it. Drivers without a notion of free space (object stores) are not limited.
import type { StorageDriver } from '../storage/index.js'
import { RegistryError } from './errors.js'

export type FreeSpaceSetting = { percent: number } | { bytes: number }

/** How often a streamed upload of unknown length re-checks the reserve. */
export const RECHECK_BYTES = 8 * 1024 * 1024

export class SpaceGuard {
  constructor(
    private readonly driver: StorageDriver,
    private readonly setting: FreeSpaceSetting,
  ) {}

  /** Throws STORAGE_FULL when writing `incoming` more bytes would cross the reserve. */
  async check(incoming = 0): Promise<void> {
    // A declared length beyond what a number can hold exactly is no size any storage has.
    if (!Number.isSafeInteger(incoming)) {
      throw new RegistryError('CONTENT_TOO_LARGE', `upload of ${incoming} bytes refused: too large`)
    }
    if (!this.driver.space) return
    const { free, total } = await this.driver.space()
    const reserve =
      'percent' in this.setting ? (total * this.setting.percent) / 100 : this.setting.bytes
    if (free - incoming < reserve) {
      throw new RegistryError(
        'STORAGE_FULL',
        `upload refused: it would leave less than ${mib(reserve)} free on the storage ` +
          `(${mib(free)} free now; storage.minFreeSpace keeps the rest for the system)`,
      )
    }
  }
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`
}
