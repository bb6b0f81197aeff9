// zot's `storage.storageDriver` for S3 (the seed's attribute table, after CNCF distribution's
// s3-aws driver) mapped onto the AWS SDK v3. Every attribute is accepted; one the SDK cannot
// express is named in a warning the config layer prints at startup, never silently dropped.
import { Agent } from 'node:https'
import { format } from 'node:util'
// Types only: loading the configuration must not load the AWS SDK (~22 MiB of RSS), which a
// store without S3 never needs.
import type {
  ObjectCannedACL,
  S3ClientConfig,
  ServerSideEncryption,
  StorageClass,
} from '@aws-sdk/client-s3'
import { z } from 'zod'
import type { Logger } from '../log/logger.js'
import { checkKey } from '../storage/driver.js'

const MiB = 1024 * 1024

// The SDK's ObjectCannedACL and StorageClass values, spelled out so the schema needs no runtime
// import of the SDK; `satisfies` keeps them in step with its types. The SDK is pinned to a
// release that still supports Node 20 (package.json); the two AWS Backup classes S3 added after
// it are sent as the same x-amz-storage-class header all the same.
const OBJECT_ACLS = [
  'authenticated-read',
  'aws-exec-read',
  'bucket-owner-full-control',
  'bucket-owner-read',
  'private',
  'public-read',
  'public-read-write',
] as const satisfies readonly ObjectCannedACL[]
const NEWER_STORAGE_CLASSES = ['AWS_BACKUP_LOW_COST_WARM', 'AWS_BACKUP_WARM'] as const
const STORAGE_CLASSES = [
  ...NEWER_STORAGE_CLASSES,
  'DEEP_ARCHIVE',
  'EXPRESS_ONEZONE',
  'FSX_ONTAP',
  'FSX_OPENZFS',
  'GLACIER',
  'GLACIER_IR',
  'INTELLIGENT_TIERING',
  'ONEZONE_IA',
  'OUTPOSTS',
  'REDUCED_REDUNDANCY',
  'SNOW',
  'STANDARD',
  'STANDARD_IA',
] as const satisfies readonly (StorageClass | (typeof NEWER_STORAGE_CLASSES)[number])[]
/** The S3 API's smallest multipart part (all but the last). */
export const MIN_CHUNK_SIZE = 5 * MiB
export const DEFAULT_CHUNK_SIZE = 10 * MiB
/**
 * Parts in flight per upload. The writer (multipart-writer.ts) holds these and the part it is
 * filling, allocated once per upload: chunksize x (queue + 1), whatever the blob size.
 */
export const UPLOAD_QUEUE_SIZE = 2

/** A connection that cannot be made in this time fails (and is retried) instead of hanging. */
const CONNECT_TIMEOUT_MS = 10_000
/**
 * A socket silent this long is dead. Generous, because a paused download (a slow client holding
 * back the stream) is silent too; a client that stalls longer resumes with a Range request.
 */
const SOCKET_TIMEOUT_MS = 300_000

// distribution's s3-aws `loglevel` values, which may be combined with commas.
const LOG_LEVELS = [
  'off',
  'debug',
  'debugwithsigning',
  'debugwithhttpbody',
  'debugwithrequestretries',
  'debugwithrequesterrors',
  'debugwitheventstreambody',
] as const

/** A byte count as a number or a string of digits (distribution accepts both). */
const byteCount = z
  .union([z.number(), z.string().regex(/^\d+$/, 'expected a byte count')])
  .transform(Number)
  .pipe(z.number().int().nonnegative())

const rootDirectory = z.string().refine(
  (s) => {
    const trimmed = trimSlashes(s)
    if (trimmed === '') return true
    try {
      checkKey(trimmed)
      return true
    } catch {
      return false
    }
  },
  { message: "expected a slash path without empty, '.' or '..' parts" },
)

/** The storageDriver object when `name` is "s3": strict, so a misspelt key fails startup. */
export const s3StorageDriverSchema = z
  .strictObject({
    name: z.literal('s3'),
    accesskey: z.string().min(1).optional(),
    secretkey: z.string().min(1).optional(),
    region: z.string().min(1),
    regionendpoint: z.string().min(1).optional(),
    forcepathstyle: z.boolean().optional(),
    bucket: z.string().min(1),
    encrypt: z.boolean().optional(),
    keyid: z.string().min(1).optional(),
    secure: z.boolean().optional(),
    skipverify: z.boolean().optional(),
    v4auth: z.boolean().optional(),
    chunksize: byteCount
      .refine((n) => n >= MIN_CHUNK_SIZE, {
        message: `chunksize must be at least 5 MiB (${MIN_CHUNK_SIZE} bytes): the S3 API's minimum part size`,
      })
      .optional(),
    multipartcopychunksize: byteCount.optional(),
    multipartcopymaxconcurrency: byteCount.optional(),
    multipartcopythresholdsize: byteCount.optional(),
    rootdirectory: rootDirectory.optional(),
    // "NONE" is distribution's way of sending no storage class at all.
    storageclass: z.union([z.enum(STORAGE_CLASSES), z.literal('NONE')]).optional(),
    useragent: z.string().min(1).optional(),
    usedualstack: z.boolean().optional(),
    accelerate: z.boolean().optional(),
    objectacl: z.enum(OBJECT_ACLS).optional(),
    loglevel: z
      .string()
      .refine((s) => s.split(',').every((l) => (LOG_LEVELS as readonly string[]).includes(l)), {
        message: `expected ${LOG_LEVELS.join(', ')} (comma-separated)`,
      })
      .optional(),
  })
  .refine((c) => (c.accesskey === undefined) === (c.secretkey === undefined), {
    message: 'accesskey and secretkey go together (omit both to use the AWS credential chain)',
    path: ['secretkey'],
  })

export type S3StorageDriverConfig = z.input<typeof s3StorageDriverSchema>

/** Parameters every object-creating call carries (PutObject, multipart uploads, CopyObject). */
export interface S3WriteParams {
  StorageClass?: StorageClass
  ACL?: ObjectCannedACL
  ServerSideEncryption?: ServerSideEncryption
  SSEKMSKeyId?: string
}

export interface S3Settings {
  bucket: string
  /** Prefix of every key, without leading or trailing '/'; '' is the bucket's root. */
  prefix: string
  client: S3ClientConfig
  write: S3WriteParams
  /** Multipart part size for streamed writes (chunksize). */
  partSize: number
  queueSize: number
  /** Attributes that cannot take the effect their name promises; print them at startup. */
  warnings: string[]
}

export interface ResolveS3Options {
  /** Where the SDK's own log lines go when `loglevel` asks for them. */
  logger?: Logger
}

function trimSlashes(s: string): string {
  return s.replace(/^\/+|\/+$/g, '')
}

/** The zot-shaped storageDriver object (validated here) as SDK client and call parameters. */
export function resolveS3Settings(input: unknown, options: ResolveS3Options = {}): S3Settings {
  const c = s3StorageDriverSchema.parse(input)
  const warnings: string[] = []
  const secure = c.secure !== false

  let endpoint: string | undefined
  if (c.regionendpoint !== undefined) {
    const hasScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(c.regionendpoint)
    endpoint = hasScheme ? c.regionendpoint : `${secure ? 'https' : 'http'}://${c.regionendpoint}`
    if (hasScheme && c.secure !== undefined && c.regionendpoint.startsWith('https:') !== secure) {
      warnings.push(`storageDriver.secure=${c.secure} ignored: regionendpoint names its scheme`)
    }
  }

  let forcePathStyle = c.forcepathstyle ?? true
  let accelerate = c.accelerate ?? false
  if (accelerate && endpoint !== undefined) {
    accelerate = false
    warnings.push('storageDriver.accelerate ignored: S3 Accelerate cannot use a regionendpoint')
  } else if (accelerate && forcePathStyle) {
    // Per the S3 endpoint rules, Accelerate endpoints are virtual-hosted only.
    forcePathStyle = false
    if (c.forcepathstyle === true) {
      warnings.push(
        'storageDriver.forcepathstyle ignored: S3 Accelerate needs virtual-hosted style',
      )
    }
  }
  let dualstack = c.usedualstack ?? false
  if (dualstack && endpoint !== undefined) {
    dualstack = false
    warnings.push('storageDriver.usedualstack ignored: dual-stack cannot use a regionendpoint')
  }

  if (c.v4auth === false) {
    warnings.push('storageDriver.v4auth=false ignored: the AWS SDK v3 always signs with SigV4')
  }
  for (const key of [
    'multipartcopychunksize',
    'multipartcopymaxconcurrency',
    'multipartcopythresholdsize',
  ] as const) {
    if (c[key] !== undefined) {
      warnings.push(
        `storageDriver.${key} has no effect: moves use a single CopyObject (up to 5 GiB), ` +
          'since multipart copy (UploadPartCopy) is missing from some S3-compatible servers',
      )
    }
  }
  if (c.keyid !== undefined && c.encrypt !== true) {
    warnings.push('storageDriver.keyid ignored: encrypt is not true')
  }
  if (c.skipverify === true && !(endpoint ?? (secure ? 'https:' : '')).startsWith('https:')) {
    warnings.push('storageDriver.skipverify has no effect without TLS')
  }

  const client: S3ClientConfig = {
    region: c.region,
    forcePathStyle,
    useAccelerateEndpoint: accelerate,
    useDualstackEndpoint: dualstack,
    // With the SDK's default (WHEN_SUPPORTED), streamed PutObjects go out with aws-chunked
    // framing and a trailing checksum, which several S3-compatible servers (s3rver among them)
    // store verbatim: silent corruption. Outpost verifies every blob by digest instead.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: {
      connectionTimeout: CONNECT_TIMEOUT_MS,
      socketTimeout: SOCKET_TIMEOUT_MS,
      ...(c.skipverify === true
        ? { httpsAgent: new Agent({ keepAlive: true, rejectUnauthorized: false }) }
        : {}),
    },
  }
  if (endpoint !== undefined) client.endpoint = endpoint
  else client.tls = secure
  // Without keys the SDK's default chain applies: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
  // AWS_SESSION_TOKEN, the shared credentials file with AWS_PROFILE, then instance roles.
  if (c.accesskey !== undefined && c.secretkey !== undefined) {
    client.credentials = { accessKeyId: c.accesskey, secretAccessKey: c.secretkey }
  }
  if (c.useragent !== undefined) client.customUserAgent = c.useragent

  const levels = (c.loglevel ?? 'off').split(',').filter((l) => l !== 'off')
  if (levels.length > 0) {
    if (options.logger) client.logger = sdkLogger(options.logger)
    else warnings.push('storageDriver.loglevel ignored: no logger was given to the S3 client')
    const detailed = levels.filter((l) => l !== 'debug')
    if (detailed.length > 0) {
      warnings.push(
        `storageDriver.loglevel ${detailed.join(',')} logs as debug: the AWS SDK v3 logs ` +
          'each operation, not its signing, bodies or retries',
      )
    }
  }

  const write: S3WriteParams = {}
  if (c.storageclass !== undefined && c.storageclass !== 'NONE')
    write.StorageClass = c.storageclass as StorageClass
  if (c.objectacl !== undefined) write.ACL = c.objectacl
  if (c.encrypt === true) {
    write.ServerSideEncryption = c.keyid !== undefined ? 'aws:kms' : 'AES256'
    if (c.keyid !== undefined) write.SSEKMSKeyId = c.keyid
  }

  return {
    bucket: c.bucket,
    prefix: trimSlashes(c.rootdirectory ?? ''),
    client,
    write,
    partSize: c.chunksize ?? DEFAULT_CHUNK_SIZE,
    queueSize: UPLOAD_QUEUE_SIZE,
    warnings,
  }
}

/** The SDK's logger interface onto Outpost's: its per-operation lines are debug detail. */
function sdkLogger(logger: Logger): NonNullable<S3ClientConfig['logger']> {
  const at =
    (level: 'debug' | 'warn' | 'error') =>
    (...content: unknown[]) => {
      if (logger.enabled(level)) logger.log(level, 's3 client', { detail: format(...content) })
    }
  return {
    trace: () => {},
    debug: at('debug'),
    info: at('debug'),
    warn: at('warn'),
    error: at('error'),
  }
}
