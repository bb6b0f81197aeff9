// dynalite, the DynamoDB test server, in a child process on 127.0.0.1 with an OS-picked port, so
// a test can kill it to play an outage; and a child process holding a DynamoDB lock, so a test
// can kill a holder with SIGKILL.
//
// Credentials: the cache driver takes them from the AWS SDK's default chain, as in production.
// dynalite accepts any, so importing this module sets AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY
// in the test process's environment when they are unset (children inherit them); credentials
// already there are left alone.
import { spawn, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { pathToFileURL } from 'node:url'
import { join } from 'node:path'
import { DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { REPO_ROOT } from './harness.js'

process.env.AWS_ACCESS_KEY_ID ??= 'dynalite'
process.env.AWS_SECRET_ACCESS_KEY ??= 'dynalite'

export const DYNALITE_REGION = 'us-east-2'

export interface Dynalite {
  endpoint: string
  port: number
  /** Kill the server (its in-memory tables go with it); idempotent. */
  stop(): Promise<void>
}

// Inline ESM run with cwd at the repository, so import('dynalite') resolves from node_modules.
const SCRIPT = `
const { default: dynalite } = await import('dynalite')
const createTableMs = Number(process.argv[1])
const server = dynalite({ createTableMs, deleteTableMs: 50, updateTableMs: 50 })
server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'))
// The test process gone (even killed), stdin closes: do not outlive it.
process.stdin.on('close', () => process.exit(0)).resume()
`

/** How long dynalite keeps a new table CREATING (so waiting for ACTIVE is exercised). */
export async function startDynalite(options: { createTableMs?: number } = {}): Promise<Dynalite> {
  const child = spawn(
    process.execPath,
    ['--input-type=module', '-e', SCRIPT, String(options.createTableMs ?? 200)],
    { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'] },
  )
  const port = await firstLine(child, 'dynalite').then(Number)
  let stopped: Promise<void> | undefined
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    stop() {
      stopped ??= kill(child)
      return stopped
    },
  }
}

/** A zot-shaped cacheDriver object for `server`, on a fresh table unless `extra` names one. */
export function dynaliteCacheDriverConfig(
  server: Dynalite,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    name: 'dynamodb',
    endpoint: server.endpoint,
    region: DYNALITE_REGION,
    cacheTablename: `outpost-${randomUUID()}`,
    ...extra,
  }
}

/** A bare client on the server (default credential chain), for checks beside the driver. */
export function rawDynamoClient(server: Dynalite): DynamoDBClient {
  return new DynamoDBClient({ region: DYNALITE_REGION, endpoint: server.endpoint })
}

export interface ChildHolder {
  /** resolves once the child holds the lock, with its pid */
  held: Promise<number>
  /** SIGKILL the child: it dies holding the lease, without releasing it */
  kill(): Promise<void>
}

const HOLDER = `
const [moduleUrl, settingsJson, lock, ttl] = process.argv.slice(1)
const { openDynamoCache } = await import(moduleUrl)
const cache = await openDynamoCache(JSON.parse(settingsJson), () => {}, { locks: { ttlMs: Number(ttl) } })
await cache.locks.run(lock, async () => {
  process.stdout.write(process.pid + '\\n')
  await new Promise(() => {})
})
`

/** A child process (another instance) that takes lock `name` and holds it until killed. */
export function holdLockInChild(settings: unknown, name: string, ttlMs: number): ChildHolder {
  const moduleUrl = pathToFileURL(join(REPO_ROOT, 'src/dynamo/index.ts')).href
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      '--input-type=module',
      '-e',
      HOLDER,
      moduleUrl,
      JSON.stringify(settings),
      name,
      String(ttlMs),
    ],
    { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'] },
  )
  return { held: firstLine(child, 'lock holder').then(Number), kill: () => kill(child) }
}

/** The child's first line of stdout; rejects with its stderr if it exits first. */
function firstLine(child: ChildProcess, what: string): Promise<string> {
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const lines = createInterface({ input: child.stdout! })
  return new Promise((resolve, reject) => {
    lines.once('line', resolve)
    child.once('exit', (code, signal) =>
      reject(new Error(`${what} exited (${code ?? signal}) before it was ready: ${stderr}`)),
    )
  })
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  child.kill('SIGKILL')
  await exited
}
