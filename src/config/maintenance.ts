// Outpost's own `maintenance` section: the budget background work (GC, scrub, the dedupe pass)
// runs under, and zot's `extensions.scrub`. Defaults are safe on a 1 GB Raspberry Pi with an SD
// card: half the CPU, 64 MB of memory left to others, 8 MB/s of disk, any time of day.
import { z } from 'zod'
import { parseDuration } from './duration.js'
import { parseBytes } from './units.js'

const SIZE = /^\d+(?:\.\d+)?\s*(?:B|KB|MB|GB|KiB|MiB|GiB)?$/
const RATE = /^(\d+(?:\.\d+)?\s*(?:B|KB|MB|GB|KiB|MiB|GiB)?)\/s$/
const WINDOW = /^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$/

/** A byte rate ("8MB/s"), as maintenance.ioRate and extensions.sync.maxBandwidth write it. */
export const rateSchema = z
  .string()
  .regex(RATE, 'expected a rate such as "8MB/s"')
  // A rate of 0 cannot pace anything: every unit would owe an infinite wait.
  .refine((s) => !RATE.test(s) || parseBytes(RATE.exec(s)![1]) > 0, 'expected a rate above 0')

/** Local times "HH:MM-HH:MM" (maintenance.window, extensions.sync.window); may wrap midnight. */
export const windowSchema = z.string().regex(WINDOW, 'expected local times such as "01:00-05:00"')

/** Bytes per second of a rate `rateSchema` accepted. */
export function parseRate(text: string): number {
  return parseBytes(RATE.exec(text)![1])
}

/** Minutes after local midnight of a window `windowSchema` accepted: start included, end not. */
export function parseWindow(text: string): { start: number; end: number } {
  const m = WINDOW.exec(text)!
  return { start: Number(m[1]) * 60 + Number(m[2]), end: Number(m[3]) * 60 + Number(m[4]) }
}

export const maintenanceSchema = z.strictObject({
  cpuPercent: z.number().min(1).max(100).optional(),
  minFreeMemory: z.string().regex(SIZE, 'expected a size such as "64MB"').optional(),
  ioRate: rateSchema.optional(),
  window: windowSchema.optional(),
})

// zot's ScrubConfig has these two fields only: anything else is a typo to report.
export const scrubSchema = z.strictObject({
  enable: z.boolean().optional(),
  interval: z
    .string()
    .refine((s) => {
      try {
        return parseDuration(s) >= 60_000
      } catch {
        return false
      }
    }, 'expected a Go duration of at least "1m", such as "24h"')
    .optional(),
})

export interface MaintenanceSettings {
  cpuPercent: number
  minFreeMemory: number
  ioRate: number
  window?: { start: number; end: number }
}

export interface ScrubSettings {
  enabled: boolean
  intervalMs: number
}

export const MAINTENANCE_DEFAULTS = {
  cpuPercent: 50,
  minFreeMemory: '64MB',
  ioRate: '8MB/s',
}

export function resolveMaintenance(
  raw: z.infer<typeof maintenanceSchema> | undefined,
): MaintenanceSettings {
  return {
    cpuPercent: raw?.cpuPercent ?? MAINTENANCE_DEFAULTS.cpuPercent,
    minFreeMemory: parseBytes(raw?.minFreeMemory ?? MAINTENANCE_DEFAULTS.minFreeMemory),
    ioRate: parseRate(raw?.ioRate ?? MAINTENANCE_DEFAULTS.ioRate),
    ...(raw?.window && { window: parseWindow(raw.window) }),
  }
}

/** zot's scrub extension: off unless enabled; default interval 24h. */
export function resolveScrub(raw: z.infer<typeof scrubSchema> | undefined): ScrubSettings {
  return {
    enabled: raw !== undefined && raw.enable !== false,
    intervalMs: parseDuration(raw?.interval ?? '24h'),
  }
}
