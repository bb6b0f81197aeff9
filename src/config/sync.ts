// zot's `extensions.sync`, with zot's keys unchanged (pkg/extensions/config/sync), and zot's
// rules for combinations that cannot work (pkg/cli/server/root.go, validateSync*). On demand,
// Outpost is a pull-through cache of upstream registries; with a pollInterval, a periodic mirror
// of them (src/upstream/mirror).
// Outpost adds `maxSize` (bytes of pulled-through content kept), `maxBandwidth` and `window`
// (the mirror's cap and hours), per registry `referrers` and `tagRecheckInterval` (zot calls
// it `manifestCheckInterval`), and per content rule `platforms`. Resolved in sync-settings.ts.
import { z } from 'zod'
import { globProblem } from '../util/glob.js'
import { durationMs, durationSchema } from './duration.js'
import { rateSchema, windowSchema } from './maintenance.js'
import { compileTagRegex, parsePlatform } from './sync-grammar.js'

/** The periodic mirror (issue 15, src/upstream/mirror) runs registries with a pollInterval. */
export const PERIODIC_SYNC_SUPPORTED = true

const NOT_YET = 'not supported yet'
const SIZE = /^\d+(?:\.\d+)?\s*(?:B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?$/

const duration = durationSchema

/** A duration that must be above zero (an interval of 0 would spin, or mean "never"). */
const positiveDuration = duration.refine((s) => !(durationMs(s) <= 0), {
  message: 'expected a duration above 0 such as "6h"',
})

const notYet = (what: string) =>
  z.unknown().refine(() => false, { message: `${what} is ${NOT_YET}` })

/** A zot tag regex (Go RE2), compiled here so a bad one fails at load as in zot. */
const tagRegex = z
  .string()
  // zot keeps no tag at all for an empty regex: surely not what was meant.
  .min(1, 'an empty regex keeps no tag; leave the key out to keep every tag')
  .superRefine((s, ctx) => {
    try {
      compileTagRegex(s)
    } catch (err) {
      ctx.addIssue({
        code: 'custom',
        message: `regex could not be compiled: ${(err as Error).message}`,
      })
    }
  })

const platform = z.string().superRefine((s, ctx) => {
  try {
    parsePlatform(s)
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message })
  }
})

// zot's content rule: upstream repositories matching `prefix` (a doublestar glob) are kept under
// `destination`, with the prefix's literal part removed when `stripPrefix` is set; `tags`
// narrows which of their tags are taken. `platforms` is Outpost's.
const contentRule = z.strictObject({
  prefix: z
    .string()
    .min(1)
    .superRefine((s, ctx) => {
      const problem = globProblem(s)
      if (problem)
        ctx.addIssue({ code: 'custom', message: `sync prefix could not be compiled: ${problem}` })
    }),
  destination: z
    .string()
    .regex(/^\/([a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*)?$/, {
      message: 'expected "/" or a repository path such as "/mirror/docker"',
    })
    .optional(),
  stripPrefix: z.boolean().optional(),
  tags: z
    .strictObject({
      regex: tagRegex.optional(),
      excludeRegex: tagRegex.optional(),
      semver: z.boolean().optional(),
    })
    .optional(),
  platforms: z
    .array(platform)
    .min(1, 'expected at least one platform such as "linux/arm64" (leave the key out for all)')
    .optional(),
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

const registryFields = z.strictObject({
  // The first is the upstream; the others are mirrors of it, tried in turn when it fails.
  urls: z.array(upstreamUrl).min(1),
  onDemand: z.boolean().optional(),
  pollInterval: positiveDuration.optional(),
  content: z.array(contentRule).min(1).optional(),
  tlsVerify: z.boolean().optional(),
  certDir: z.string().min(1).optional(),
  maxRetries: z.number().int().min(0).optional(),
  retryDelay: duration.optional(),
  // Above retryDelay, the delay doubles on each retry up to this.
  maxRetryDelay: duration.optional(),
  onlySigned: z.boolean().optional(),
  syncLegacyCosignTags: z.boolean().optional(),
  // zot's name; Outpost's tagRecheckInterval is the same setting.
  manifestCheckInterval: duration.optional(),
  tagRecheckInterval: duration.optional(),
  syncTimeout: positiveDuration.optional(),
  reqConcurrent: z
    .number()
    .int('expected a whole number')
    .gt(0, 'reqConcurrent must be greater than 0')
    .optional(),
  reqPerSec: z
    .number()
    .gt(0, 'reqPerSec must be a finite value greater than 0')
    .finite()
    .optional(),
  // Outpost speaks HTTP/1.1 to upstreams (one connection per request), whatever this says.
  disableHTTP2: z.boolean().optional(),
  maxIdleConnsPerHost: z
    .number()
    .int('expected a whole number')
    .gt(0, 'maxIdleConnsPerHost must be greater than 0')
    .optional(),
  credentialHelper: notYet('credentialHelper').optional(),
  oauth2CredentialHelper: notYet('oauth2CredentialHelper').optional(),
  // Digests are always preserved: Outpost never converts a manifest.
  preserveDigest: z.boolean().optional(),
  // Outpost's own: referrers of a synced manifest (signatures, SBOMs) are synced with it.
  referrers: z.boolean().optional(),
})

export type RawRegistry = z.infer<typeof registryFields>

interface Problem {
  path: Array<string | number>
  message: string
}

/** What is wrong with a registry's combination of keys, one problem per cause. */
export function registryProblems(r: RawRegistry): Problem[] {
  const problems: Problem[] = []
  const add = (path: Array<string | number>, message: string) => problems.push({ path, message })
  const periodic = r.pollInterval !== undefined
  const onDemand = r.onDemand === true
  // zot's default is periodic (onDemand false): a registry without "onDemand": true needs a
  // pollInterval, or it syncs nothing (zot skips such a registry without a word).
  if (!periodic && !onDemand)
    add(['pollInterval'], 'required when onDemand is not true: this registry would sync nothing')
  // zot mirrors nothing periodically without content rules (extension_sync.go, isPeriodical).
  if (periodic && !r.content)
    add(['content'], 'required with pollInterval: the repositories to mirror')
  // zot: the interval only throttles on-demand checks.
  if (r.manifestCheckInterval !== undefined && !onDemand)
    add(['manifestCheckInterval'], 'manifestCheckInterval requires onDemand to be enabled')
  // zot: "retryDelay is required when using maxRetries" (or maxRetryDelay).
  const needsDelay = ['maxRetries', 'maxRetryDelay'].find(
    (k) => r[k as keyof RawRegistry] !== undefined,
  )
  if (needsDelay && r.retryDelay === undefined)
    add(['retryDelay'], `retryDelay is required when using ${needsDelay}`)
  if (
    r.maxRetryDelay !== undefined &&
    r.retryDelay !== undefined &&
    durationMs(r.maxRetryDelay) < durationMs(r.retryDelay)
  )
    add(['maxRetryDelay'], 'maxRetryDelay must be greater than or equal to retryDelay')
  if (r.manifestCheckInterval !== undefined && r.tagRecheckInterval !== undefined)
    add(['tagRecheckInterval'], 'the same setting as manifestCheckInterval: give only one of them')
  for (const [i, c] of (r.content ?? []).entries()) {
    // zot: the local name would be empty.
    if (c.stripPrefix && !c.prefix.includes('/*') && (c.destination ?? '/') === '/')
      add(
        ['content', i, 'stripPrefix'],
        "can not use stripPrefix true and destination '/' without using glob patterns in prefix",
      )
  }
  return problems
}

const registry = registryFields.superRefine(
  (r, ctx) => {
    for (const p of registryProblems(r))
      ctx.addIssue({ code: 'custom', path: p.path, message: p.message })
  },
  // Combinations are judged once every key is valid on its own: one problem per cause.
  { when: (payload) => payload.issues.length === 0 },
)

export const syncSchema = z.strictObject({
  enable: z.boolean().optional(),
  credentialsFile: z.string().min(1).optional(),
  // zot stages images here before importing them; Outpost streams blobs into the store.
  downloadDir: z.string().min(1).optional(),
  registries: z.array(registry).optional(),
  // Outpost's own: bytes of pulled-through content kept before the least recently pulled go.
  maxSize: z.string().regex(SIZE, 'expected a size such as "20GB"').optional(),
  // Outpost's own: the periodic mirror's bandwidth cap across all registries, and its hours.
  maxBandwidth: rateSchema.optional(),
  window: windowSchema.optional(),
})

export type RawSync = z.infer<typeof syncSchema>

export {
  resolveSync,
  retryDelayFor,
  type ContentRule,
  type SyncSettings,
  type TagFilter,
  type UpstreamSettings,
} from './sync-settings.js'
