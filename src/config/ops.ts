// The operations keys: zot's http.tls, http.ratelimit and extensions.metrics, and Outpost's own
// http.maxHeaderSize and http.uploadIdleTimeout. Schemas here, resolved into the settings the
// server runs on (src/server/tls.ts, src/http/limits.ts, src/metrics/).
import { resolve } from 'node:path'
import { z } from 'zod'
import { parseDuration } from './duration.js'
import { parseBytes } from './units.js'

const SIZE = /^\d+(?:\.\d+)?\s*(?:B|KB|MB|KiB|MiB)?$/

// zot's TLSConfig: a certificate and its key; with cacert, clients must present a certificate
// signed by it (mutual TLS).
export const tlsSchema = z.strictObject({
  cert: z.string().min(1),
  key: z.string().min(1),
  cacert: z.string().min(1).optional(),
})

const rate = z.number().positive('expected requests per second above 0')

// zot's RatelimitConfig: requests per second per client, optionally per method.
export const ratelimitSchema = z.strictObject({
  rate: rate.optional(),
  methods: z
    .array(z.strictObject({ method: z.string().regex(/^[A-Za-z]+$/, 'expected a method'), rate }))
    .optional(),
})

// zot's MetricsConfig: {"enable": true, "prometheus": {"path": "/metrics"}}.
export const metricsSchema = z.strictObject({
  enable: z.boolean().optional(),
  prometheus: z
    .strictObject({
      path: z
        .string()
        .regex(/^\/[\w./-]*$/, 'expected an absolute path such as "/metrics"')
        // Under /v2/ it would shadow the distribution API.
        .refine((p) => !/^\/v2(\/|$)/.test(p), 'expected a path outside /v2/')
        .optional(),
    })
    .optional(),
})

/** Outpost's own: at most 64 KiB, at least 1 KiB (a request line and a few headers). */
export const maxHeaderSizeSchema = z.union([
  z.number().int().min(1024).max(65536),
  z
    .string()
    .regex(SIZE, 'expected a size such as "16KiB"')
    .refine((s) => parseBytes(s) >= 1024 && parseBytes(s) <= 65536, 'expected 1KiB to 64KiB'),
])

export interface TlsSettings {
  /** absolute paths, re-read on SIGHUP */
  cert: string
  key: string
  cacert?: string
}

export interface RateLimitSettings {
  /** requests per second per client for methods without their own rate; absent: unlimited */
  rate?: number
  /** per method (upper case) */
  methods: Record<string, number>
}

export interface MetricsSettings {
  enabled: boolean
  path: string
}

export const OPS_DEFAULTS = {
  maxHeaderSize: 16 * 1024,
  uploadIdleTimeout: '2m',
  metricsPath: '/metrics',
}

export function resolveTls(raw: z.infer<typeof tlsSchema> | undefined, cwd: string) {
  if (!raw) return undefined
  return {
    cert: resolve(cwd, raw.cert),
    key: resolve(cwd, raw.key),
    ...(raw.cacert && { cacert: resolve(cwd, raw.cacert) }),
  } satisfies TlsSettings
}

export function resolveRatelimit(
  raw: z.infer<typeof ratelimitSchema> | undefined,
): RateLimitSettings | undefined {
  if (!raw || (raw.rate === undefined && !raw.methods?.length)) return undefined
  return {
    ...(raw.rate !== undefined && { rate: raw.rate }),
    methods: Object.fromEntries((raw.methods ?? []).map((m) => [m.method.toUpperCase(), m.rate])),
  }
}

/** The http settings of this file, all present once resolved. */
export function resolveHttpOps(
  raw:
    | {
        tls?: z.infer<typeof tlsSchema>
        ratelimit?: z.infer<typeof ratelimitSchema>
        maxHeaderSize?: number | string
        uploadIdleTimeout?: string
      }
    | undefined,
  cwd: string,
) {
  const size = raw?.maxHeaderSize
  const tls = resolveTls(raw?.tls, cwd)
  const ratelimit = resolveRatelimit(raw?.ratelimit)
  return {
    ...(tls && { tls }),
    ...(ratelimit && { ratelimit }),
    maxHeaderSize:
      size === undefined
        ? OPS_DEFAULTS.maxHeaderSize
        : typeof size === 'number'
          ? size
          : parseBytes(size),
    uploadIdleTimeoutMs: parseDuration(raw?.uploadIdleTimeout ?? OPS_DEFAULTS.uploadIdleTimeout),
  }
}

/** Metrics are served unless switched off ("enable": false), at /metrics by default. */
export function resolveMetrics(raw: z.infer<typeof metricsSchema> | undefined): MetricsSettings {
  return {
    enabled: raw?.enable !== false,
    path: raw?.prometheus?.path ?? OPS_DEFAULTS.metricsPath,
  }
}
