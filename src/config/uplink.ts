// Outpost's own `uplink` key: S3 buckets that `outpost sync --to/--from <name>` copies
// repositories to and from, in the layout Outpost's S3 backend serves.
//   "uplink": {
//     "targets": { "backup": { <a zot storageDriver object for S3> } },
//     "schedule": "24h",   optional: a running server syncs to every target this often
//     "rate": "2MB/s",     optional: the bandwidth cap of a sync (bytes per second)
//     "repos": "team/**"   optional: which repositories the schedule syncs (default: all)
//   }
import { z } from 'zod'
import { s3StorageDriverSchema, type S3StorageDriverConfig } from './s3-driver-options.js'
import { parseDuration } from './duration.js'
import { parseSpace, SPACE } from './units.js'

const RATE = /^(.*?)(?:\/s)?$/

/** Bytes per second from "2MB/s", "512KiB/s" or "1048576"; undefined when not a rate. */
export function parseRate(text: string): number | undefined {
  const size = RATE.exec(text.trim())![1]
  const m = SPACE.exec(size)
  if (!m || m[2] === '%') return undefined
  const bytes = (parseSpace(size) as { bytes: number }).bytes
  return bytes > 0 ? bytes : undefined
}

function validDuration(text: string): boolean {
  try {
    return parseDuration(text) >= 1000
  } catch {
    return false
  }
}

export const uplinkSchema = z.strictObject({
  targets: z.record(
    z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'expected a target name such as "backup"'),
    s3StorageDriverSchema,
  ),
  schedule: z
    .string()
    .refine(validDuration, { message: 'expected a Go duration of at least "1s", such as "24h"' })
    .optional(),
  rate: z
    .string()
    .refine((s) => parseRate(s) !== undefined, {
      message: 'expected a rate such as "2MB/s" or "512KiB/s"',
    })
    .optional(),
  repos: z.string().min(1).optional(),
})

export type RawUplink = z.infer<typeof uplinkSchema>

export interface UplinkSettings {
  targets: Record<string, S3StorageDriverConfig>
  /** every target is synced this often by a running server; undefined: only by the CLI */
  scheduleMs?: number
  /** bytes per second; Infinity when uncapped */
  rate: number
  /** the repositories a scheduled sync uploads (a glob as in retention policies) */
  repos: string
}

export function resolveUplink(raw: RawUplink | undefined): UplinkSettings {
  return {
    targets: raw?.targets ?? {},
    scheduleMs: raw?.schedule === undefined ? undefined : parseDuration(raw.schedule),
    rate: raw?.rate === undefined ? Infinity : parseRate(raw.rate)!,
    repos: raw?.repos ?? '**',
  }
}
