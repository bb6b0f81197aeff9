// Reading, validating and resolving a configuration file into the settings the server runs on.
import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import type { z } from 'zod'
import type { S3StorageDriverConfig } from '../s3/index.js'
import { parseDuration } from './duration.js'
import { parseJsonc } from './jsonc.js'
import { configSchema, knownKeys, type RawConfig } from './schema.js'
import {
  resolveMaintenance,
  resolveScrub,
  type MaintenanceSettings,
  type ScrubSettings,
} from './maintenance.js'
import { resolveStorageSettings, type StorageSettings } from './storage-settings.js'

export interface OutpostConfig {
  storage: {
    /** absolute path */
    rootDirectory: string
    commit: boolean
    /** the no-config default root is created; a configured one must already exist */
    createRoot: boolean
    uploadExpiryMs: number
    /** blobs on S3 (zot's storageDriver); rootDirectory then holds only local state */
    storageDriver?: S3StorageDriverConfig
  } & StorageSettings
  http: { address: string; port: number; shutdownTimeoutMs: number }
  log: { level: 'debug' | 'info' | 'warn' | 'error' }
  maintenance: MaintenanceSettings
  scrub: ScrubSettings
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

/** The zero-configuration default: 127.0.0.1:5000, storing under ./data (created if missing). */
export function defaultConfig(cwd = process.cwd()): OutpostConfig {
  return resolveConfig({ storage: { rootDirectory: resolve(cwd, 'data') } }, cwd, true)
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
    throw new ConfigError(file, [
      `not valid JSON${where(text, err as Error)}: ${(err as Error).message}`,
    ])
  }
  const result = configSchema.safeParse(raw)
  if (!result.success) throw new ConfigError(file, result.error.issues.flatMap(describeIssue))
  return resolveConfig(result.data, process.cwd(), false)
}

/** " at line L, column C" from JSON.parse's "at position N", which Node 20 gives without them. */
function where(text: string, err: Error): string {
  const m = /at position (\d+)/.exec(err.message)
  if (!m) return ''
  const before = text.slice(0, Number(m[1])).split('\n')
  return ` at line ${before.length}, column ${before[before.length - 1].length + 1}`
}

function describeIssue(issue: z.core.$ZodIssue): string[] {
  const path = issue.path.map(String).join('.') || '(top level)'
  if (issue.code === 'unrecognized_keys') {
    // Name each unknown key by its own path (storage.foo), and what the object accepts.
    const known = knownKeys(issue.path)
    const expected = known ? ` (expected one of: ${known.join(', ')})` : ''
    const prefix = issue.path.length ? `${path}.` : ''
    return issue.keys.map((k) => `${prefix}${k}: unknown key${expected}`)
  }
  return [`${path}: ${issue.message}`]
}

function resolveConfig(raw: RawConfig, cwd: string, createRoot: boolean): OutpostConfig {
  return {
    storage: {
      rootDirectory: resolve(cwd, raw.storage.rootDirectory),
      commit: raw.storage.commit ?? false,
      createRoot,
      uploadExpiryMs: parseDuration(raw.storage.uploadExpiry ?? DEFAULTS.uploadExpiry),
      ...(raw.storage.storageDriver && { storageDriver: raw.storage.storageDriver }),
      ...resolveStorageSettings(raw.storage),
    },
    http: {
      address: raw.http?.address ?? DEFAULTS.address,
      port: raw.http?.port ?? DEFAULTS.port,
      shutdownTimeoutMs: parseDuration(raw.http?.shutdownTimeout ?? DEFAULTS.shutdownTimeout),
    },
    log: { level: raw.log?.level ?? 'info' },
    maintenance: resolveMaintenance(raw.maintenance),
    scrub: resolveScrub(raw.extensions?.scrub),
  }
}
