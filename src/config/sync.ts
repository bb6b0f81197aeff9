// zot's `extensions.sync`, on-demand only: Outpost as a pull-through cache of upstream
// registries. zot's keys keep zot's meaning; Outpost adds `maxSize` (bytes of pulled-through
// content kept, least-recently-pulled images evicted beyond it) and, per registry,
// `tagRecheckInterval` (how often a cached tag is compared with the upstream's; digests never).
import { z } from 'zod'
import { parseDuration } from './duration.js'
import { parseBytes } from './units.js'

const NOT_YET = 'not supported yet'
const SIZE = /^\d+(?:\.\d+)?\s*(?:B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?$/

const duration = z.string().refine(
  (s) => {
    try {
      parseDuration(s)
      return true
    } catch {
      return false
    }
  },
  { message: 'expected a Go duration such as "90m" or "1h30m"' },
)

const notYet = (what: string) =>
  z.unknown().refine(() => false, { message: `${what} is ${NOT_YET}` })

// zot's content rule: upstream repositories matching `prefix` (a doublestar glob) are kept under
// `destination`, with the prefix's literal part removed when `stripPrefix` is set.
const contentRule = z.strictObject({
  prefix: z.string().min(1),
  destination: z
    .string()
    .regex(/^\/([a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*)?$/, {
      message: 'expected "/" or a repository path such as "/mirror/docker"',
    })
    .optional(),
  stripPrefix: z.boolean().optional(),
  tags: notYet('filtering synced tags (content.tags)').optional(),
})

const upstreamUrl = z.string().refine(
  (s) => {
    try {
      const u = new URL(s)
      return (u.protocol === 'http:' || u.protocol === 'https:') && u.pathname.length <= 1
    } catch {
      return false
    }
  },
  { message: 'expected a registry URL such as "https://registry-1.docker.io"' },
)

const registry = z
  .strictObject({
    urls: z.array(upstreamUrl).min(1),
    onDemand: z.boolean().optional(),
    tlsVerify: z.boolean().optional(),
    certDir: z.string().min(1).optional(),
    content: z.array(contentRule).min(1).optional(),
    maxRetries: z.number().int().min(0).max(10).optional(),
    retryDelay: duration.optional(),
    // Digests are always preserved: Outpost never converts a manifest.
    preserveDigest: z.boolean().optional(),
    pollInterval: notYet('periodic sync (pollInterval)').optional(),
    onlySigned: z
      .boolean()
      .refine((v) => v === false, { message: `onlySigned is ${NOT_YET}` })
      .optional(),
    // Outpost's own: a cached tag is compared with the upstream's at most this often.
    tagRecheckInterval: duration.optional(),
  })
  // zot's default is periodic sync; Outpost only pulls on demand.
  .refine((r) => r.onDemand === true, {
    path: ['onDemand'],
    message: `periodic sync is ${NOT_YET} (set "onDemand": true)`,
  })

export const syncSchema = z.strictObject({
  enable: z.boolean().optional(),
  credentialsFile: z.string().min(1).optional(),
  downloadDir: notYet('downloadDir').optional(),
  registries: z.array(registry).optional(),
  // Outpost's own: bytes of pulled-through content kept before the least recently pulled go.
  maxSize: z.string().regex(SIZE, 'expected a size such as "20GB"').optional(),
})

export type RawSync = z.infer<typeof syncSchema>

export interface ContentRule {
  prefix: string
  /** "/" or "/path" */
  destination: string
  stripPrefix: boolean
}

export interface UpstreamSettings {
  urls: string[]
  tlsVerify: boolean
  certDir?: string
  content: ContentRule[]
  maxRetries: number
  retryDelayMs: number
  tagRecheckMs: number
}

export interface SyncSettings {
  credentialsFile?: string
  /** bytes of pulled-through content kept; unbounded when absent */
  maxSizeBytes?: number
  registries: UpstreamSettings[]
}

const DEFAULTS = { maxRetries: 3, retryDelay: '5m', tagRecheckInterval: '60s' }

/** The settings the pull-through cache runs on; undefined when sync is off. */
export function resolveSync(raw: RawSync | undefined): SyncSettings | undefined {
  if (!raw || raw.enable === false || !raw.registries?.length) return undefined
  return {
    ...(raw.credentialsFile && { credentialsFile: raw.credentialsFile }),
    ...(raw.maxSize && { maxSizeBytes: parseBytes(raw.maxSize) }),
    registries: raw.registries.map((r) => ({
      urls: r.urls.map((u) => u.replace(/\/$/, '')),
      tlsVerify: r.tlsVerify ?? true,
      ...(r.certDir && { certDir: r.certDir }),
      content: (r.content ?? [{ prefix: '**' }]).map((c) => ({
        prefix: c.prefix,
        destination: c.destination ?? '/',
        stripPrefix: c.stripPrefix ?? false,
      })),
      maxRetries: r.maxRetries ?? DEFAULTS.maxRetries,
      retryDelayMs: parseDuration(r.retryDelay ?? DEFAULTS.retryDelay),
      tagRecheckMs: parseDuration(r.tagRecheckInterval ?? DEFAULTS.tagRecheckInterval),
    })),
  }
}
