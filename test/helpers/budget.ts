// Helpers for the budget service's tests: a simulated clock whose sleep advances time instantly,
// a sampler that reports what a script says for the simulated time, and a count of the child
// processes this process starts (to show that sampling the real machine spawns none).
//
// The count wraps node:child_process as soon as this module is evaluated, so a test file must
// import it before anything that loads systeminformation (which keeps its own reference to
// execSync from load time). Only `import type` from src/ here, for the same reason.
import { createRequire } from 'node:module'
import type { BudgetClock } from '../../src/budget/budget.js'
import type { Sample, Sampler } from '../../src/budget/sampler.js'

const require = createRequire(import.meta.url)
const childProcess = require('node:child_process') as typeof import('node:child_process')

/** True when systeminformation was loaded before the count was installed (it would miss it). */
export const systeminformationLoadedFirst = Object.keys(require.cache).some((key) =>
  key.includes('/systeminformation/'),
)

let spawned = 0
/** Child processes started by this process since this module was loaded. */
export function spawnCount(): number {
  return spawned
}

function counted<T extends (...args: never[]) => unknown>(original: T): T {
  return function (this: unknown, ...args: Parameters<T>) {
    spawned++
    return original.apply(this, args)
  } as T
}
// exec, execFile, spawn and fork all start their child through ChildProcess.prototype.spawn (not
// in the typings); the synchronous variants each go their own way.
const proto = childProcess.ChildProcess.prototype as unknown as { spawn: (...a: never[]) => void }
proto.spawn = counted(proto.spawn)
childProcess.execSync = counted(childProcess.execSync)
childProcess.execFileSync = counted(childProcess.execFileSync)
childProcess.spawnSync = counted(childProcess.spawnSync)

export const MINUTE = 60_000
export const HOUR = 60 * MINUTE

/** Simulated time: sleep(ms) returns at once with the clock `ms` later. Starts at `startMinute`. */
export class SimClock implements BudgetClock {
  private t = 0
  /** every sleep asked for, in order */
  readonly sleeps: number[] = []

  constructor(private readonly startMinute = 0) {}

  now(): number {
    return this.t
  }

  async sleep(ms: number): Promise<void> {
    this.sleeps.push(ms)
    this.t += ms
  }

  minuteOfDay(): number {
    return Math.floor(this.startMinute + this.t / MINUTE) % 1440
  }
}

/** "HH:MM" as minutes after midnight. */
export function minutes(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number)
  return h * 60 + m
}

/** A machine whose readings are a function of simulated time; counts how often it is asked. */
export class ScriptedSampler implements Sampler {
  samples = 0

  constructor(
    private readonly clock: SimClock,
    private readonly script: (t: number) => Partial<Sample> = () => ({}),
  ) {}

  async sample(): Promise<Sample> {
    this.samples++
    return { othersCpuPercent: 10, availableMemory: 1e9, ...this.script(this.clock.now()) }
  }
}

/** Log lines as [message, fields]. */
export function logLines(): {
  lines: Array<[string, Record<string, unknown> | undefined]>
  log: (msg: string, fields?: Record<string, unknown>) => void
} {
  const lines: Array<[string, Record<string, unknown> | undefined]> = []
  return { lines, log: (msg, fields) => void lines.push([msg, fields]) }
}
