// What the machine charges for new page cache (docs/performance.md, "The machine's memory tax"):
// kernel CPU seconds per GiB written into a new file, which is what every push pays per byte on
// either server. On bare metal this is the copy and the page allocation, a few tenths of a second
// per GiB; on a VM whose free memory goes back to the host (virtio-balloon free page reporting,
// as on the development VM), each newly touched page first costs a host fault, and it reads 1–3
// s/GiB depending on how much freed memory the guest still holds. Printed before and after the
// comparison so a reader can tell the machine's state from the servers' work.
import { closeSync, openSync, unlinkSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const PROBE_MIB = 256
const MIB = 1024 * 1024

/** Kernel CPU seconds per GiB written into a new file of PROBE_MIB MiB (deleted after). */
export function pageCacheSecondsPerGiB(dir = tmpdir()): number {
  const path = join(dir, `outpost-page-cache-probe-${process.pid}`)
  const chunk = Buffer.alloc(MIB, 1)
  const fd = openSync(path, 'w')
  const before = process.cpuUsage()
  try {
    for (let i = 0; i < PROBE_MIB; i++) writeSync(fd, chunk)
  } finally {
    closeSync(fd)
    unlinkSync(path)
  }
  const { system } = process.cpuUsage(before)
  return system / 1e6 / (PROBE_MIB / 1024)
}

export function describeCost(when: string, seconds: number): string {
  return (
    `kernel CPU per GiB of new page cache ${when}: ${seconds.toFixed(2)} s ` +
    `(${PROBE_MIB} MiB written to a new file; bare metal: a few tenths)`
  )
}
