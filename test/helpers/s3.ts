// s3rver, the S3 test server, in a child process on 127.0.0.1 with an OS-picked port. It runs
// apart from the tests because it needs NODE_OPTIONS=--openssl-legacy-provider (its listing
// continuation tokens use DES), which the test process should not carry, and so that a test can
// kill it to play an endpoint outage.
//
// s3rver is served through a thin front that adds what the tests must observe and s3rver lacks:
// - a log of every request (method, path, query names and the headers that carry write
//   settings), so a test can see multipart parts, aborts and per-object parameters go out;
// - AbortMultipartUpload and ListMultipartUploads, which s3rver answers with 405 and 501, done
//   on s3rver's own store layout (`<dir>/<bucket>/._S3rver_uploads/<uploadId>/key`).
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { promisify } from 'node:util'
import { S3Client } from '@aws-sdk/client-s3'
import { removeDir, REPO_ROOT, tempDir } from './harness.js'

const run = promisify(execFile)

/** The credentials s3rver accepts unless told otherwise. */
export const S3RVER_KEY = 'S3RVER'

/** One request as the server saw it. */
export interface SeenRequest {
  method: string
  path: string
  /** names of the query parameters (uploads, uploadId, partNumber, list-type, delete...) */
  query: string[]
  headers: Record<string, string>
}

export interface S3Server {
  endpoint: string
  port: number
  bucket: string
  /** Every request served so far, oldest first. */
  requests: SeenRequest[]
  /** Kill the server (its data directory is removed unless the caller gave it); idempotent. */
  stop(): Promise<void>
}

// Inline ESM run with cwd at the repository, so import('s3rver') resolves from its node_modules.
const SCRIPT = `
const { default: S3rver } = await import('s3rver')
const http = await import('node:http')
const https = await import('node:https')
const fs = await import('node:fs/promises')
const path = await import('node:path')
const [directory, bucket, keyFile, certFile] = process.argv.slice(1)
const s3 = new S3rver({ silent: true, directory, configureBuckets: [{ name: bucket }] })
await s3.configureBuckets()
const serve = s3.callback()
const uploads = path.join(directory, bucket, '._S3rver_uploads')
const bucketPath = '/' + bucket
const LOGGED = ['user-agent', 'x-amz-user-agent', 'x-amz-storage-class', 'x-amz-acl', 'x-amz-server-side-encryption',
  'x-amz-server-side-encryption-aws-kms-key-id', 'x-amz-copy-source', 'range']
const xml = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
async function listUploads() {
  const ids = await fs.readdir(uploads).catch(() => [])
  const entries = await Promise.all(ids.map(async (id) => {
    const key = await fs.readFile(path.join(uploads, id, 'key'), 'utf8')
    return '<Upload><Key>' + xml(key) + '</Key><UploadId>' + id + '</UploadId></Upload>'
  }))
  return '<?xml version="1.0" encoding="UTF-8"?>\\n' +
    '<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>' +
    bucket + '</Bucket><IsTruncated>false</IsTruncated>' + entries.join('') +
    '</ListMultipartUploadsResult>'
}
async function handle(req, res) {
  const url = new URL(req.url, 'http://s3')
  const headers = {}
  for (const h of LOGGED) if (req.headers[h] !== undefined) headers[h] = String(req.headers[h])
  process.stdout.write(JSON.stringify({ method: req.method, path: url.pathname,
    query: [...url.searchParams.keys()], headers }) + '\\n')
  const uploadId = url.searchParams.get('uploadId')
  if (req.method === 'DELETE' && uploadId !== null) {
    await fs.rm(path.join(uploads, path.basename(uploadId)), { recursive: true, force: true })
    res.writeHead(204).end()
  } else if (req.method === 'GET' && [bucketPath, bucketPath + '/'].includes(url.pathname) &&
    url.searchParams.has('uploads')) {
    res.writeHead(200, { 'content-type': 'application/xml' }).end(await listUploads())
  } else {
    serve(req, res)
  }
}
const onRequest = (req, res) => handle(req, res).catch((err) => res.destroy(err))
const server = keyFile
  ? https.createServer({ key: await fs.readFile(keyFile), cert: await fs.readFile(certFile) }, onRequest)
  : http.createServer(onRequest)
server.listen(Number(process.env.S3RVER_PORT ?? 0), '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'))
// The test process gone (even killed), stdin closes: do not outlive it.
process.stdin.on('close', () => process.exit(0)).resume()
`

export interface S3rverOptions {
  bucket?: string
  /** PEM files: serve HTTPS with this key and certificate. */
  tls?: { keyFile: string; certFile: string }
  /**
   * Where the objects live, kept when the server stops (a new server on the same `port` and
   * directory is the same S3 back again, e.g. after an outage)
   */
  directory?: string
  port?: number
}

export async function startS3rver(options: S3rverOptions = {}): Promise<S3Server> {
  const bucket = options.bucket ?? 'outpost-test'
  const directory = options.directory ?? (await tempDir('outpost-s3rver-'))
  const args = [directory, bucket]
  if (options.tls) args.push(options.tls.keyFile, options.tls.certFile)
  const child: ChildProcess = spawn(
    process.execPath,
    ['--input-type=module', '-e', SCRIPT, ...args],
    {
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        NODE_OPTIONS: '--openssl-legacy-provider',
        S3RVER_PORT: String(options.port ?? 0),
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  )
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const exited = once(child, 'exit')
  const requests: SeenRequest[] = []
  const lines = createInterface({ input: child.stdout! })
  const port = await new Promise<number>((resolve, reject) => {
    lines.on('line', (line) => {
      if (line.startsWith('{')) requests.push(JSON.parse(line) as SeenRequest)
      else resolve(Number(line))
    })
    exited.then(([code]) =>
      reject(new Error(`s3rver exited (${code}) before listening: ${stderr}`)),
    )
  })
  let stopped: Promise<void> | undefined
  return {
    endpoint: `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    port,
    bucket,
    requests,
    stop() {
      stopped ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGKILL')
          await exited
        }
        if (!options.directory) await removeDir(directory)
      })()
      return stopped
    },
  }
}

/** The zot-shaped storageDriver object for this server, with s3rver's credentials. */
export function s3rverDriverConfig(
  server: S3Server,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    name: 's3',
    region: 'us-east-1',
    bucket: server.bucket,
    regionendpoint: server.endpoint,
    accesskey: S3RVER_KEY,
    secretkey: S3RVER_KEY,
    ...extra,
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

/** A self-signed certificate for 127.0.0.1, made with the openssl command. */
export async function selfSignedCert(dir: string): Promise<{ keyFile: string; certFile: string }> {
  const keyFile = join(dir, 'key.pem')
  const certFile = join(dir, 'cert.pem')
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=127.0.0.1',
    '-addext',
    'subjectAltName=IP:127.0.0.1',
    '-keyout',
    keyFile,
    '-out',
    certFile,
  ])
  return { keyFile, certFile }
}
