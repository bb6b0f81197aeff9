// s3rver, the S3 test server, in a child process on 127.0.0.1 with an OS-picked port. It runs
// apart from the tests because its paginated listings need NODE_OPTIONS=--openssl-legacy-provider,
// which the test process should not carry, and so a test can stop it to play an endpoint outage.
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { S3Client } from '@aws-sdk/client-s3'
import { removeDir, REPO_ROOT, tempDir } from './harness.js'

/** The credentials s3rver accepts unless told otherwise. */
export const S3RVER_KEY = 'S3RVER'

export interface S3Server {
  endpoint: string
  port: number
  bucket: string
  /** Kill the server (its data directory is removed); idempotent. */
  stop(): Promise<void>
}

// Inline ESM: import('s3rver') resolves from the cwd (the repository), so no file is written.
const SCRIPT = `
const { default: S3rver } = await import('s3rver')
const [directory, bucket] = process.argv.slice(1)
const server = new S3rver({
  address: '127.0.0.1',
  port: 0,
  silent: true,
  directory,
  configureBuckets: [{ name: bucket }],
})
const { port } = await server.run()
process.stdout.write(port + '\\n')
`

export async function startS3rver(bucket = 'outpost-test'): Promise<S3Server> {
  const directory = await tempDir('outpost-s3rver-')
  const child: ChildProcess = spawn(
    process.execPath,
    ['--input-type=module', '-e', SCRIPT, directory, bucket],
    {
      cwd: REPO_ROOT,
      env: { ...process.env, NODE_OPTIONS: '--openssl-legacy-provider' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const exited = once(child, 'exit')
  const lines = createInterface({ input: child.stdout! })
  const first = await Promise.race([
    once(lines, 'line').then(([line]) => String(line)),
    exited.then(([code]) => {
      throw new Error(`s3rver exited with ${code} before listening: ${stderr}`)
    }),
  ])
  lines.close()
  const port = Number(first.trim())
  let stopped: Promise<void> | undefined
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    bucket,
    stop() {
      stopped ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGKILL')
          await exited
        }
        await removeDir(directory)
      })()
      return stopped
    },
  }
}

/** A bare client on the server, for checks the driver contract does not express. */
export function rawClient(server: S3Server): S3Client {
  return new S3Client({
    region: 'us-east-1',
    endpoint: server.endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId: S3RVER_KEY, secretAccessKey: S3RVER_KEY },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  })
}
