// Reading, validating and resolving a configuration file into the settings the server runs on.
import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import type { z } from 'zod'
import type { S3StorageDriverConfig } from './s3-driver-options.js'
import { parseDuration } from './duration.js'
import { jsonProblem, parseJsonc } from './jsonc.js'
import { configSchema, knownKeys, type RawConfig } from './schema.js'
import {
  resolveMaintenance,
  resolveScrub,
  type MaintenanceSettings,
  type ScrubSettings,
} from './maintenance.js'
import { resolveStorageSettings, type StorageSettings } from './storage-settings.js'
import { overlapProblems, type StoreSite } from './sub-paths.js'
import { hostingProblems, resolveHosting, type HostedSettings } from './hosting.js'
import { resolveUplink, type UplinkSettings } from './uplink.js'
import { resolveSync, type SyncSettings } from './sync.js'
import { accessSection, type AccessSettings } from './auth.js'
import {
  resolveHttpOps,
  resolveMetrics,
  type MetricsSettings,
  type RateLimitSettings,
  type TlsSettings,
} from './ops.js'

/** One store's settings: the storage section itself, or one of its subPaths. */
export type StoreSettings = {
  /** absolute path */
  rootDirectory: string
  commit: boolean
  /** the no-config default root is created; a configured one must already exist */
  createRoot: boolean
  uploadExpiryMs: number
  /** blobs on S3 (zot's storageDriver); rootDirectory then holds only local state */
  storageDriver?: S3StorageDriverConfig
  /**
   * zot's subPaths, only on the default store (the storage section): keyed by the route without
   * its slash ("a" for "/a"), each the store of the repositories whose first path segment it is.
   * Absent when none is configured.
   */
  subPaths?: Record<string, StoreSettings>
} & StorageSettings

export interface OutpostConfig {
  storage: StoreSettings
  http: {
    address: string
    port: number
    shutdownTimeoutMs: number
    /** src/config/ops.ts; optional so hand-built configs (tests) may leave them out */
    tls?: TlsSettings
    ratelimit?: RateLimitSettings
    maxHeaderSize?: number
    uploadIdleTimeoutMs?: number
    /** authentication and access control (src/config/auth.ts); absent: open */
    access?: AccessSettings
  }
  /**
   * The operator's page at / (zot's extensions.ui): on when `enable` is true. zot's default is
   * off; the zero-configuration default and the packaged config turn it on.
   */
  ui?: { enabled: boolean }
  /** Prometheus metrics (zot's extensions.metrics); served at /metrics when absent */
  metrics?: MetricsSettings
  log: {
    level: 'debug' | 'info' | 'warn' | 'error'
    /** zot's log.audit: audit lines go to this file (appended) whatever the level */
    audit?: string
  }
  maintenance: MaintenanceSettings
  scrub: ScrubSettings
  /** layout directories served read-only (Outpost's `hosting`) */
  hosting?: HostedSettings[]
  /** S3 targets of `outpost sync` (Outpost's `uplink`) */
  uplink?: UplinkSettings
  /** the pull-through cache (zot's extensions.sync, on demand) */
  sync?: SyncSettings
}

export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`${file}:\n${problems.map((p) => `  - ${p}`).join('\n')}`)
    this.name = 'ConfigError'
  }
}

const DEFAULTS = {
  address: '127.0.0.1',
  port: 5000,
  shutdownTimeout: '30s',
  uploadExpiry: '24h',
}

/** What `outpost serve` takes on its command line in place of a config file. */
export interface ServeOverrides {
  address?: string
  /** a port number as typed ("5055"), checked like http.port */
  port?: string
  /** the storage root, relative to `cwd`; created if missing like the default ./data */
  root?: string
}

/**
 * The zero-configuration default: 127.0.0.1:5000, storing under ./data (created if missing), the
 * operator's page on, with what the command line overrides, validated as the same keys in a file would be.
 */
export function defaultConfig(cwd = process.cwd(), overrides: ServeOverrides = {}): OutpostConfig {
  const raw = {
    storage: { rootDirectory: resolve(cwd, overrides.root ?? 'data') },
    // Someone who starts Outpost with no config at all is at its console: show them the page.
    extensions: { ui: { enable: true } },
    ...((overrides.address !== undefined || overrides.port !== undefined) && {
      http: { address: overrides.address, port: overrides.port },
    }),
  }
  const result = configSchema.safeParse(raw)
  if (!result.success) {
    const flags = result.error.issues
      .flatMap(describeIssue)
      .map((problem) => problem.replace(/^http\.(address|port)|^storage\.rootDirectory/, flagOf))
    throw new ConfigError('the command line', flags)
  }
  return resolveConfig(result.data, cwd, true)
}

function flagOf(key: string): string {
  return key === 'storage.rootDirectory' ? '--root' : `--${key.slice('http.'.length)}`
}

export async function loadConfig(file: string): Promise<OutpostConfig> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    throw new ConfigError(file, [`cannot read: ${(err as Error).message}`])
  }
  return parseConfig(text, file)
}

export function parseConfig(text: string, file = '<config>'): OutpostConfig {
  let raw: unknown
  try {
    raw = parseJsonc(text)
  } catch (err) {
    throw new ConfigError(file, [`not valid JSON: ${jsonProblem(text, err as Error)}`])
  }
  const result = configSchema.safeParse(raw)
  if (!result.success) {
    throw new ConfigError(
      file,
      result.error.issues.flatMap((issue) => describeIssue(issue, raw)),
    )
  }
  const config = resolveConfig(result.data, process.cwd(), false)
  const sites = storeSites(config)
  const problems = overlapProblems(sites)
  const routes = Object.keys(config.storage.subPaths ?? {})
  problems.push(
    ...hostingProblems(
      config.hosting ?? [],
      routes,
      sites.map((s) => s.rootDirectory),
    ),
  )
  if (problems.length) throw new ConfigError(file, problems)
  return config
}

/** Every store of a resolved configuration, named by its JSON path, for the overlap check. */
function storeSites(config: OutpostConfig): StoreSite[] {
  const site = (path: string, store: StoreSettings): StoreSite => ({
    path,
    rootDirectory: store.rootDirectory,
    storageDriver: store.storageDriver,
  })
  return [
    site('storage', config.storage),
    ...Object.entries(config.storage.subPaths ?? {}).map(([key, store]) =>
      site(`storage.subPaths./${key}`, store),
    ),
  ]
}

/** The value at `path` in the parsed file, undefined when absent. */
function valueAt(raw: unknown, path: readonly PropertyKey[]): unknown {
  let v = raw
  for (const key of path) {
    if (v === null || typeof v !== 'object') return undefined
    v = (v as Record<PropertyKey, unknown>)[key]
  }
  return v
}

function describeIssue(issue: z.core.$ZodIssue, raw: unknown): string[] {
  const path = issue.path.map(String).join('.') || '(top level)'
  // A missing key: say so, instead of zod's "expected string, received undefined".
  if (issue.code === 'invalid_type' && valueAt(raw, issue.path) === undefined) {
    if (path === 'storage.rootDirectory' && valueAt(raw, ['storage', 'subPaths']) !== undefined) {
      return [
        'storage.rootDirectory: required when storage.subPaths is set (the default store: ' +
          'repositories outside every subpath are stored there)',
      ]
    }
    return [`${path}: required (expected ${issue.expected})`]
  }
  if (issue.code === 'unrecognized_keys') {
    // Name each unknown key by its own path (storage.foo), and what the object accepts.
    const known = knownKeys(issue.path)
    const expected = known ? ` (expected one of: ${known.join(', ')})` : ''
    const prefix = issue.path.length ? `${path}.` : ''
    return issue.keys.map((k) => `${prefix}${k}: unknown key${expected}`)
  }
  return [`${path}: ${issue.message}`]
}

/** One store from its section (the storage section, or a subpath): the same rules for both. */
function resolveStore(
  raw: Omit<RawConfig['storage'], 'subPaths'>,
  cwd: string,
  createRoot: boolean,
): StoreSettings {
  return {
    rootDirectory: resolve(cwd, raw.rootDirectory),
    commit: raw.commit ?? false,
    createRoot,
    uploadExpiryMs: parseDuration(raw.uploadExpiry ?? DEFAULTS.uploadExpiry),
    ...(raw.storageDriver && { storageDriver: raw.storageDriver }),
    ...resolveStorageSettings(raw),
  }
}

function resolveConfig(raw: RawConfig, cwd: string, createRoot: boolean): OutpostConfig {
  const { subPaths, ...section } = raw.storage
  const routes = Object.entries(subPaths ?? {})
  return {
    storage: {
      ...resolveStore(section, cwd, createRoot),
      // A configured subpath root is never created: like any configured root, it must exist.
      ...(routes.length > 0 && {
        subPaths: Object.fromEntries(
          routes.map(([route, store]) => [route.slice(1), resolveStore(store, cwd, false)]),
        ),
      }),
    },
    http: {
      address: raw.http?.address ?? DEFAULTS.address,
      port: raw.http?.port ?? DEFAULTS.port,
      shutdownTimeoutMs: parseDuration(raw.http?.shutdownTimeout ?? DEFAULTS.shutdownTimeout),
      ...resolveHttpOps(raw.http, cwd),
      ...accessSection(raw.http, cwd),
    },
    metrics: resolveMetrics(raw.extensions?.metrics),
    ui: { enabled: raw.extensions?.ui?.enable === true },
    log: {
      level: raw.log?.level ?? 'info',
      ...(raw.log?.audit && { audit: resolve(cwd, raw.log.audit) }),
    },
    maintenance: resolveMaintenance(raw.maintenance),
    scrub: resolveScrub(raw.extensions?.scrub),
    // Outpost's own keys appear only when configured.
    ...(raw.hosting && { hosting: resolveHosting(raw.hosting, cwd) }),
    ...(raw.uplink && { uplink: resolveUplink(raw.uplink) }),
    ...withSync(resolveSync(raw.extensions?.sync)),
  }
}

/** The pull-through cache appears in the resolved configuration only when it is on. */
function withSync(sync: SyncSettings | undefined): { sync?: SyncSettings } {
  return sync ? { sync } : {}
}
