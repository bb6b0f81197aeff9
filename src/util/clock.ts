// Time for age-based decisions (GC's gcDelay). Boards without a real-time clock boot in 1970 and
// leap forward when NTP syncs, so wall time alone cannot say how old something is. A stamp keeps
// the wall time and the system's monotonic time with the boot it belongs to: within one boot the
// monotonic difference is used, immune to wall-clock jumps; across boots the wall difference,
// and a stamp from the future counts as made now.
import { readFileSync } from 'node:fs'

export interface Clock {
  /** wall-clock milliseconds since the epoch */
  wallMs(): number
  /** monotonic milliseconds since boot (CLOCK_MONOTONIC on Linux) */
  monoMs(): number
  /** identifies the current boot: monotonic times compare only within one */
  bootId(): string
}

export interface TimeStamp {
  wall: number
  mono: number
  boot: string
}

function readBootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim()
  } catch {
    return `process-${process.pid}-${Date.now()}` // no boot id: trust monotonic time within this process only
  }
}

const BOOT_ID = readBootId()

export const systemClock: Clock = {
  wallMs: () => Date.now(),
  monoMs: () => Number(process.hrtime.bigint() / 1_000_000n),
  bootId: () => BOOT_ID,
}

export function stampNow(clock: Clock): TimeStamp {
  return { wall: clock.wallMs(), mono: clock.monoMs(), boot: clock.bootId() }
}

/** How long ago `stamp` was made; never negative, never inflated by a wall-clock jump. */
export function ageMs(stamp: TimeStamp, clock: Clock): number {
  const age =
    stamp.boot === clock.bootId() ? clock.monoMs() - stamp.mono : clock.wallMs() - stamp.wall
  return Math.max(0, age)
}

/** A clock whose hands the test moves (no sleeps). */
export class ManualClock implements Clock {
  constructor(
    private wall = Date.UTC(2026, 0, 1),
    private mono = 1_000_000,
    private boot = 'manual-boot',
  ) {}

  wallMs(): number {
    return this.wall
  }
  monoMs(): number {
    return this.mono
  }
  bootId(): string {
    return this.boot
  }
  /** time passes: both clocks advance */
  advance(ms: number): void {
    this.wall += ms
    this.mono += ms
  }
  /** the wall clock jumps (NTP sync, RTC reset); monotonic time does not */
  jumpWall(ms: number): void {
    this.wall += ms
  }
  /** a reboot: monotonic time restarts under a new boot id */
  reboot(bootId: string): void {
    this.boot = bootId
    this.mono = 0
  }
}
