// The configuration file: zot's JSON shape (docs/configuration.md) under a strict schema. Every key zot's
// storage guide documents is recognised; a value that would ask for something Outpost does not
// do yet fails with "not supported yet" instead of being ignored.
import { z } from 'zod'
import { durationMs, durationSchema } from './duration.js'
import { maintenanceSchema, scrubSchema } from './maintenance.js'
import { SPACE } from './units.js'
import { subPathsSchema } from './sub-paths.js'
import { syncSchema } from './sync.js'
import { cacheRules } from './cache-rules.js'
import { dynamoCacheDriverSchema } from './dynamo-options.js'
import { s3StorageDriverSchema } from './s3-driver-options.js'
import { hostingSchema } from './hosting.js'
import { uplinkSchema } from './uplink.js'
import { accessControlSchema, authSchema } from './auth.js'
import { maxHeaderSizeSchema, metricsSchema, ratelimitSchema, tlsSchema } from './ops.js'

const NOT_YET = 'not supported yet'

const duration = durationSchema

/** A key Outpost recognises but cannot honour yet: only values that change nothing pass. */
function notYet<T extends z.ZodType>(
  schema: T,
  harmless: (v: z.infer<T>) => boolean,
  what: string,
  hint?: string,
) {
  return schema.refine(harmless, { message: `${what} is ${NOT_YET}${hint ? ` (${hint})` : ''}` })
}

// zot's storage.retention: which untagged manifests and orphaned referrers GC may remove.
const retentionPolicy = z.strictObject({
  repositories: z.array(z.string().min(1)).min(1),
  deleteReferrers: z.boolean().optional(),
  deleteUntagged: z.boolean().optional(),
  keepTags: notYet(z.unknown(), () => false, 'retention by tag (keepTags)').optional(),
})

const retention = z.strictObject({
  dryRun: z.boolean().optional(),
  delay: duration.optional(),
  policies: z.array(retentionPolicy).optional(),
})

const storageFields = {
  rootDirectory: z.string().min(1),
  commit: z.boolean().optional(),
  dedupe: z.boolean().optional(),
  gc: z.boolean().optional(),
  gcDelay: duration.optional(),
  gcInterval: duration.optional(),
  retention: retention.optional(),
  // Outpost's own: space uploads must leave free ("5%" of the filesystem, or "512MB").
  minFreeSpace: z
    .string()
    .regex(SPACE, 'expected a percentage such as "5%" or a size such as "512MB"')
    // A reserve of the whole filesystem (or more) would refuse every upload.
    .refine((s) => SPACE.exec(s)?.[2] !== '%' || parseFloat(s) < 100, {
      message: 'expected a percentage under 100%',
    })
    .optional(),
  storageDriver: s3StorageDriverSchema.optional(),
  cacheDriver: dynamoCacheDriverSchema.optional(),
  remoteCache: z.boolean().optional(),
  // Outpost's own: how long an idle upload session is kept before it is removed. It also paces
  // the expiry sweep, so a zero or sub-second value would spin; one second is the floor.
  uploadExpiry: duration
    .refine((s) => !(durationMs(s) < 1000), { message: 'expected at least "1s"' })
    .optional(),
}

const subPath = z.strictObject(storageFields).superRefine(cacheRules)

const storage = z
  .strictObject({
    ...storageFields,
    // zot's subPaths: "/a" -> a store of its own for repositories whose first segment is "a".
    // Stores that overlap (same or nested roots) are found in load.ts, on resolved paths.
    subPaths: subPathsSchema(subPath).optional(),
  })
  .superRefine(cacheRules)

// A number or a string of digits (zot's examples quote it), 0 asking the OS for a free one. One
// message naming the value, not zod's "Invalid input" for a union.
const port = z.unknown().transform((v, ctx) => {
  const n = typeof v === 'string' && /^\d{1,5}$/.test(v) ? Number(v) : v
  if (typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 65535) return n
  ctx.addIssue({
    code: 'custom',
    message: `${JSON.stringify(v)} is not a port number (1-65535, or 0 for any free port)`,
  })
  return z.NEVER
})

const http = z.strictObject({
  address: z.string().min(1).optional(),
  port: port.optional(),
  realm: z.string().optional(),
  tls: tlsSchema.optional(),
  auth: authSchema.optional(),
  accessControl: accessControlSchema.optional(),
  ratelimit: ratelimitSchema.optional(),
  // Outpost's own: how long SIGTERM waits for in-flight requests before closing them.
  shutdownTimeout: duration.optional(),
  // Outpost's own (src/config/ops.ts): request header limit (431 past it), and how long an
  // upload body may deliver no bytes before it is cut ("0" never).
  maxHeaderSize: maxHeaderSizeSchema.optional(),
  uploadIdleTimeout: duration.optional(),
})

const log = z.strictObject({
  level: z.enum(['debug', 'info', 'warn', 'error']).optional(),
  output: notYet(z.string(), () => false, 'log.output', 'logs go to stdout').optional(),
  // zot's: a file audit lines are appended to, whatever the level.
  audit: z.string().min(1).optional(),
})

/** An extension is acceptable only when it is switched off. */
const disabledExtension = (name: string) =>
  notYet(
    z.looseObject({ enable: z.boolean().optional() }),
    (v) => v.enable === false,
    `the ${name} extension`,
    'set "enable": false or leave it out',
  )

const extensions = z.strictObject({
  scrub: scrubSchema.optional(),
  sync: syncSchema.optional(),
  metrics: metricsSchema.optional(),
  search: disabledExtension('search').optional(),
  // zot's web UI: here the operator's page (src/ui/, docs/operator-page.md); off unless enabled.
  ui: z.strictObject({ enable: z.boolean().optional() }).optional(),
  lint: disabledExtension('lint').optional(),
  trust: disabledExtension('trust').optional(),
})

export const configSchema = z.strictObject({
  distSpecVersion: z.string().optional(),
  storage,
  http: http.optional(),
  log: log.optional(),
  extensions: extensions.optional(),
  // Outpost's own: the budget background work (GC, scrub, dedupe pass) runs under.
  maintenance: maintenanceSchema.optional(),
  // Outpost's own: layout directories served read-only (src/config/hosting.ts).
  hosting: hostingSchema.optional(),
  // Outpost's own: S3 buckets `outpost sync` copies to and from (src/config/uplink.ts).
  uplink: uplinkSchema.optional(),
})

export type RawConfig = z.infer<typeof configSchema>

/** The keys an object at `path` accepts, to say what was expected after an unknown key. */
export function knownKeys(path: readonly PropertyKey[]): string[] | undefined {
  let schema: z.ZodType | undefined = configSchema
  const unwrap = (t: z.ZodType) => (t instanceof z.ZodOptional ? (t.unwrap() as z.ZodType) : t)
  for (const segment of path) {
    schema = unwrap(schema)
    if (schema instanceof z.ZodObject)
      schema = schema.shape[String(segment)] as z.ZodType | undefined
    else if (schema instanceof z.ZodRecord) schema = schema.valueType as z.ZodType
    else if (schema instanceof z.ZodArray) schema = schema.element as z.ZodType
    else return undefined
    if (!schema) return undefined
  }
  schema = unwrap(schema)
  return schema instanceof z.ZodObject ? Object.keys(schema.shape) : undefined
}
