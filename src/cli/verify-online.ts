// `outpost verify --online`: the checks that need the network, each failure one line naming the
// key, the endpoint and what to do. Every S3 bucket (stores and uplink targets) must answer
// HeadBucket with the configured credentials; every DynamoDB cache table must be describable
// (a missing one is a warning: serve creates it); every pull-through upstream must answer
// GET /v2/ (any status below 500: 401 is an upstream that wants credentials, and answers).
// Nothing is written anywhere. The AWS SDK is loaded only here, and only when needed.
import * as http from 'node:http'
import * as https from 'node:https'
import type { OutpostConfig } from '../config/index.js'
import type { DynamoSettings } from '../config/dynamo-options.js'
import { describeCause } from '../dynamo/errors.js'
import { resolveS3Settings } from '../config/s3-driver-options.js'
import type { S3StorageDriverConfig } from '../config/s3-driver-options.js'
import { certDirOptions } from '../upstream/upstream-client.js'
import { storesOf, type Findings } from './verify-checks.js'

/** Per call: a check must not hang the reload that runs it. */
const TIMEOUT_MS = 10_000

export async function onlineChecks(config: OutpostConfig): Promise<Findings> {
  const findings: Findings = { problems: [], warnings: [] }
  const buckets: Array<[string, S3StorageDriverConfig]> = []
  const tables: Array<[string, DynamoSettings]> = []
  for (const { path, store } of storesOf(config)) {
    if (store.storageDriver) buckets.push([`${path}.storageDriver`, store.storageDriver])
    if (store.remoteCache) tables.push([`${path}.cacheDriver`, store.remoteCache])
  }
  for (const [name, target] of Object.entries(config.uplink?.targets ?? {}))
    buckets.push([`uplink.targets.${name}`, target])
  for (const [key, driver] of buckets) await checkBucket(key, driver, findings)
  for (const [key, settings] of tables) await checkTable(key, settings, findings)
  for (const [i, upstream] of (config.sync?.registries ?? []).entries()) {
    for (const url of upstream.urls) {
      const problem = await upstreamProblem(url, upstream.tlsVerify, upstream.certDir)
      if (problem) findings.problems.push(`extensions.sync.registries.${i}: ${url}: ${problem}`)
    }
  }
  return findings
}

/** The name and message of an SDK error, with the reason a credentials failure needs. */
function reason(err: unknown): string {
  const name = err instanceof Error ? err.name : ''
  if (name === 'CredentialsProviderError')
    return 'no AWS credentials found (set accesskey and secretkey, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, in the environment serve runs in)'
  const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode
  const text = describeCause(err)
  return status ? `${text} (HTTP ${status})` : text
}

async function checkBucket(key: string, driver: S3StorageDriverConfig, findings: Findings) {
  const settings = resolveS3Settings(driver)
  const { S3Client, HeadBucketCommand } = await import('@aws-sdk/client-s3')
  const client = new S3Client({
    ...settings.client,
    maxAttempts: 1,
    // skipverify's agent kept, the timeouts shortened
    requestHandler: {
      ...(settings.client.requestHandler as object),
      connectionTimeout: TIMEOUT_MS,
      requestTimeout: TIMEOUT_MS,
    },
  })
  const where = `bucket "${settings.bucket}" at ${driver.regionendpoint ?? `region ${driver.region}`}`
  try {
    await client.send(new HeadBucketCommand({ Bucket: settings.bucket }), {
      abortSignal: AbortSignal.timeout(TIMEOUT_MS),
    })
  } catch (err) {
    const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode
    const what =
      status === 404
        ? 'does not exist; create it, or name an existing one in bucket'
        : status === 403
          ? 'refuses these credentials (403); check accesskey/secretkey and the bucket policy'
          : `cannot be reached: ${reason(err)}; check regionendpoint, region and the network`
    findings.problems.push(`${key}: ${where} ${what}`)
  } finally {
    client.destroy()
  }
}

async function checkTable(key: string, settings: DynamoSettings, findings: Findings) {
  const { DynamoDBClient, DescribeTableCommand } = await import('@aws-sdk/client-dynamodb')
  const client = new DynamoDBClient({
    ...settings.client,
    maxAttempts: 1,
    requestHandler: { connectionTimeout: TIMEOUT_MS, requestTimeout: TIMEOUT_MS },
  })
  const endpoint = settings.client.endpoint ?? `region ${String(settings.client.region)}`
  const where = `DynamoDB table "${settings.table}" at ${String(endpoint)}`
  try {
    await client.send(new DescribeTableCommand({ TableName: settings.table }), {
      abortSignal: AbortSignal.timeout(TIMEOUT_MS),
    })
  } catch (err) {
    if (err instanceof Error && err.name === 'ResourceNotFoundException') {
      findings.warnings.push(
        `${key}: ${where} does not exist yet; serve creates it (it needs dynamodb:CreateTable)`,
      )
    } else {
      findings.problems.push(
        `${key}: ${where} cannot be read: ${reason(err)}; check endpoint, region and credentials`,
      )
    }
  } finally {
    client.destroy()
  }
}

/** GET <url>/v2/: undefined when the upstream answers as a registry would. */
function upstreamProblem(
  base: string,
  tlsVerify: boolean,
  certDir: string | undefined,
): Promise<string | undefined> {
  const url = new URL('/v2/', base)
  return new Promise((resolve) => {
    const options =
      url.protocol === 'https:' ? { rejectUnauthorized: tlsVerify, ...certDirOptions(certDir) } : {}
    const get = url.protocol === 'https:' ? https.get : http.get
    const req = get(url, options, (res) => {
      res.resume()
      const status = res.statusCode ?? 0
      resolve(status < 500 ? undefined : `GET /v2/ answered ${status}; the upstream is failing`)
    })
    req.setTimeout(TIMEOUT_MS, () => req.destroy(new Error(`no answer in ${TIMEOUT_MS} ms`)))
    req.once('error', (err) =>
      resolve(
        `cannot be reached (${describeCause(err)}); check the URL, tlsVerify and the network`,
      ),
    )
  })
}
