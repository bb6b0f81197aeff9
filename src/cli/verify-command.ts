// `outpost verify <config.json> [--online] [--print]`: whether `serve` would start with this file
// on this machine, told in a few lines (warnings first, on stderr), not the resolved
// configuration (--print shows that, with every secret masked). Exit 0: it would; 1: the file
// is valid but something it names is missing or unusable here; 2: the file itself is invalid.
import type { OutpostConfig, StoreSettings } from '../config/index.js'
import { loadConfig } from '../config/index.js'
import { maskSecrets } from '../log/secrets.js'
import { localChecks, storesOf } from './verify-checks.js'
import { UsageError } from './offline.js'

export interface VerifyResult {
  /** 0, 1 or 2, as above */
  code: number
  /** for stdout */
  out: string
  /** for stderr, written before `out` */
  err: string
}

export async function verify(args: string[]): Promise<VerifyResult> {
  const flags = new Set(['--online', '--print'])
  const unknown = args.find((a) => a.startsWith('-') && !flags.has(a))
  if (unknown) throw new UsageError(`verify: unknown option ${unknown}`)
  const files = args.filter((a) => !flags.has(a))
  if (files.length !== 1) throw new UsageError('verify takes exactly one config file')
  const file = files[0]
  const config = await loadConfig(file)
  const findings = await localChecks(config, file)
  if (args.includes('--online')) {
    const online = await (await import('./verify-online.js')).onlineChecks(config)
    findings.problems.push(...online.problems)
    findings.warnings.push(...online.warnings)
  }
  const { problems, warnings } = findings
  let err = warnings.map((w) => `warning: ${w}\n`).join('')
  if (problems.length > 0) {
    err += `outpost: ${file}: valid, but serve would not start here:\n`
    err += problems.map((p) => `  - ${p}\n`).join('')
    return { code: 1, out: '', err }
  }
  const checked = args.includes('--online')
    ? 'roots, files, buckets, tables and upstreams checked'
    : 'roots and files checked; buckets, tables and upstreams not (--online)'
  let out = `${file}: valid${warnings.length ? ` (${warnings.length} warnings above)` : ''}\n`
  out += summary(config)
    .map(([k, v]) => `  ${k.padEnd(10)} ${v}\n`)
    .join('')
  out += `  ${'checked'.padEnd(10)} ${checked}\n`
  if (args.includes('--print')) out += `${JSON.stringify(maskSecrets(config), null, 2)}\n`
  return { code: 0, out, err }
}

const ms = (n: number) =>
  n % 3_600_000 === 0 ? `${n / 3_600_000}h` : n % 60_000 === 0 ? `${n / 60_000}m` : `${n / 1000}s`

function storeLine(store: StoreSettings): string {
  const where = store.storageDriver
    ? `S3 bucket ${store.storageDriver.bucket}` +
      `${store.storageDriver.regionendpoint ? ` at ${store.storageDriver.regionendpoint}` : ''}` +
      `, local state in ${store.rootDirectory}`
    : store.rootDirectory
  const gc = !store.gc.enabled
    ? 'gc off'
    : store.gc.intervalMs === 0
      ? 'gc once'
      : `gc every ${ms(store.gc.intervalMs)}`
  const cache = store.remoteCache ? `, DynamoDB table ${store.remoteCache.table}` : ''
  return `${where} (dedupe ${store.dedupe ? 'on' : 'off'}, ${gc}${cache})`
}

/** The few facts an operator checks before a reload: where it listens and stores, who gets in. */
function summary(config: OutpostConfig): Array<[string, string]> {
  const { http } = config
  const host = http.address.includes(':') ? `[${http.address}]` : http.address
  const lines: Array<[string, string]> = [
    ['listen', `${http.tls ? 'https' : 'http'}://${host}:${http.port}`],
  ]
  for (const { path, store } of storesOf(config)) {
    const route = path === 'storage' ? '/' : path.slice('storage.subPaths.'.length)
    lines.push([`store ${route}`, storeLine(store)])
  }
  for (const h of config.hosting ?? []) lines.push([`hosted`, `${h.mountAt} from ${h.path}`])
  const access = http.access
  lines.push([
    'auth',
    access?.htpasswdPath
      ? `htpasswd ${access.htpasswdPath}${access.token ? ', token realm' : ''}`
      : 'none (anyone may push and pull)',
  ])
  if (config.sync) {
    const urls = config.sync.registries.flatMap((r) => r.urls)
    lines.push(['upstreams', urls.join(', ')])
  }
  const targets = Object.keys(config.uplink?.targets ?? {})
  if (targets.length) lines.push(['uplink', targets.join(', ')])
  return lines
}
