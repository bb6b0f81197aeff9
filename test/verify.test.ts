// `outpost verify` tells the truth and no command keeps a secret in the open (issue 14): verify
// fails for what serve would refuse (a missing root, unreadable TLS or htpasswd files), checks
// buckets, tables and upstreams only with --online (against real s3rver and dynalite), prints no
// secret from the file, nor does serve's startup log or its failures; a DynamoDB or credentials
// failure at start is one line without a stack; and the AWS SDK's Node notice is not printed.
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { chmod, mkdir, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { removeDir, tempDir } from './helpers/harness.js'
import { logLines, runOutpost, serveOutpost, type ServingOutpost } from './helpers/outpost-cli.js'
import { s3rverDriverConfig, startS3rver, type S3Server } from './helpers/s3.js'
import { dynaliteCacheDriverConfig, startDynalite, type Dynalite } from './helpers/dynamo.js'

// Distinctive fakes: none of them may ever appear in anything a command prints.
const FAKE_ACCESS = 'AKIAOUTPOSTFAKEACCESS7'
const FAKE_SECRET = 'outpostFakeSecret/K7MDENG+bPxRfiCY9z'
const FAKE_UPSTREAM_PASSWORD = 'outpost-fake-upstream-pw-93'
const FAKE_CREDENTIAL_PASSWORD = 'outpost-fake-credentials-pw-41'
const SECRETS = [FAKE_ACCESS, FAKE_SECRET, FAKE_UPSTREAM_PASSWORD, FAKE_CREDENTIAL_PASSWORD]

function assertNoSecret(text: string, what: string): void {
  for (const secret of SECRETS)
    assert.ok(!text.includes(secret), `${what} shows ${secret}:\n${text}`)
}

/** The first log line of `server` whose msg is `msg`, once it is written. */
async function logLine(server: ServingOutpost, msg: string): Promise<Record<string, unknown>> {
  const find = () =>
    logLines(server.stdout().split('\n').slice(0, -1).join('\n')).find((l) => l.msg === msg)
  while (!find()) {
    const exited = await Promise.race([
      once(server.child.stdout!, 'data').then(() => false),
      server.exited.then(() => true),
    ])
    if (exited && !find())
      assert.fail(`exited without "${msg}":\n${server.stdout()}${server.stderr()}`)
  }
  return find()!
}

const noStack = (text: string) => assert.doesNotMatch(text, /^\s+at .+\(?.+:\d+:\d+\)?$/m)
const SDK_NOTICE = /AWS SDK for JavaScript|NodeVersionSupportWarning|NodeDeprecationWarning/

let dir: string
let s3: S3Server
let dynamo: Dynalite
let upstream: Server
let upstreamUrl: string
before(async () => {
  dir = await tempDir('outpost-verify-')
  s3 = await startS3rver()
  dynamo = await startDynalite()
  // An upstream registry's /v2/ as a real one answers without credentials.
  upstream = createServer((req, res) => {
    res.writeHead(req.url === '/v2/' ? 401 : 404, { 'www-authenticate': 'Basic realm="x"' })
    res.end()
  })
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve))
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`
})
after(async () => {
  await s3?.stop()
  await dynamo?.stop()
  await new Promise((resolve) => upstream?.close(resolve))
  if (dir) await removeDir(dir)
})

let n = 0
/** A config file (mode 0600) in a fresh directory whose `root` subdirectory exists. */
async function configFile(
  build: (root: string, base: string) => Record<string, unknown>,
): Promise<{ file: string; root: string; base: string }> {
  const base = join(dir, `case-${++n}`)
  const root = join(base, 'root')
  await mkdir(root, { recursive: true })
  const file = join(base, 'config.json')
  await writeFile(file, JSON.stringify(build(root, base), null, 2), { mode: 0o600 })
  return { file, root, base }
}

const http = { address: '127.0.0.1', port: 0 }

describe('verify checks what serve needs, without the network unless --online', () => {
  it('exits 1 for a missing root or a root that is a file, naming the key', async () => {
    const { file } = await configFile((root, base) => ({
      storage: {
        rootDirectory: join(base, 'not-mounted'),
        subPaths: { '/a': { rootDirectory: join(base, 'config.json') } },
      },
      http,
    }))
    const r = await runOutpost(['verify', file])
    assert.equal(r.code, 1, r.stderr)
    assert.equal(r.stdout, '')
    assert.match(r.stderr, /- storage\.rootDirectory: \S+not-mounted does not exist; create/)
    assert.match(r.stderr, /- storage\.subPaths\.\/a\.rootDirectory: \S+ is not a directory/)
    const serve = await runOutpost(['serve', file])
    assert.equal(serve.code, 1, 'serve refuses what verify refused')
  })

  it('exits 1 for TLS and htpasswd files that are missing', async () => {
    const { file } = await configFile((root, base) => ({
      storage: { rootDirectory: root },
      http: {
        ...http,
        tls: { cert: join(base, 'cert.pem'), key: join(base, 'key.pem') },
        auth: { htpasswd: { path: join(base, 'htpasswd') } },
      },
    }))
    const r = await runOutpost(['verify', file])
    assert.equal(r.code, 1)
    for (const key of ['http.tls.cert', 'http.tls.key', 'http.auth.htpasswd.path'])
      assert.match(r.stderr, new RegExp(`- ${key.replace(/\./g, '\\.')}: \\S+ does not exist`))
  })

  it('exits 2 for nested subpath roots', async () => {
    const { file } = await configFile((root) => ({
      storage: { rootDirectory: root, subPaths: { '/a': { rootDirectory: join(root, 'a') } } },
      http,
    }))
    const r = await runOutpost(['verify', file])
    assert.equal(r.code, 2)
    assert.match(r.stderr, /storage\.subPaths\.\/a\.rootDirectory: .* nested with storage/)
  })

  it('does not touch the network without --online; with it, one line per failure', async () => {
    const { file } = await configFile((root) => ({
      storage: {
        rootDirectory: root,
        storageDriver: s3rverDriverConfig(s3, { bucket: 'no-such-bucket' }),
        cacheDriver: dynaliteCacheDriverConfig(dynamo),
      },
      http,
      extensions: {
        sync: {
          registries: [{ urls: ['http://127.0.0.1:1'], onDemand: true }],
        },
      },
    }))
    const seen = s3.requests.length
    const offline = await runOutpost(['verify', file])
    assert.equal(offline.code, 0, offline.stderr)
    assert.match(offline.stdout, /not \(--online\)/)
    assert.equal(s3.requests.length, seen, 'no request without --online')

    const r = await runOutpost(['verify', '--online', file])
    assert.equal(r.code, 1)
    noStack(r.stderr)
    const problems = r.stderr.split('\n').filter((l) => l.startsWith('  - '))
    assert.equal(problems.length, 2, r.stderr)
    assert.match(
      r.stderr,
      /- storage\.storageDriver: bucket "no-such-bucket" at \S+ does not exist/,
    )
    assert.match(
      r.stderr,
      /- extensions\.sync\.registries\.0: http:\/\/127\.0\.0\.1:1: cannot be reached/,
    )
    // A table not there yet is created by serve: a warning, not a problem.
    assert.match(
      r.stderr,
      /^warning: storage\.cacheDriver: DynamoDB table "outpost-\S+" .* does not exist yet/m,
    )
  })

  it('passes --online when bucket, table and upstream answer; a dead DynamoDB is named', async () => {
    const good = await configFile((root) => ({
      storage: {
        rootDirectory: root,
        storageDriver: s3rverDriverConfig(s3),
        cacheDriver: dynaliteCacheDriverConfig(dynamo),
      },
      http,
      extensions: { sync: { registries: [{ urls: [upstreamUrl], onDemand: true }] } },
    }))
    const ok = await runOutpost(['verify', '--online', good.file])
    assert.equal(ok.code, 0, ok.stderr)
    assert.match(ok.stdout, /buckets, tables and upstreams checked/)

    const deadDynamo = await startDynalite()
    const endpoint = deadDynamo.endpoint
    await deadDynamo.stop()
    const dead = await configFile((root) => ({
      storage: {
        rootDirectory: root,
        cacheDriver: dynaliteCacheDriverConfig(deadDynamo, { cacheTablename: 'outpost-dead' }),
        remoteCache: true,
      },
      http,
    }))
    const r = await runOutpost(['verify', '--online', dead.file])
    assert.equal(r.code, 1)
    noStack(r.stderr)
    assert.match(
      r.stderr,
      new RegExp(
        `- storage\\.cacheDriver: DynamoDB table "outpost-dead" at ${endpoint}/? cannot be read: .*ECONNREFUSED`,
      ),
    )
  })
})

describe('no command prints a secret', () => {
  async function secretConfig(storageKeys: { accesskey: string; secretkey: string }) {
    const { file, base } = await configFile((root) => ({
      storage: {
        rootDirectory: root,
        dedupe: false,
        storageDriver: s3rverDriverConfig(s3, storageKeys),
      },
      http,
      log: { level: 'debug' },
      extensions: {
        sync: {
          credentialsFile: join(root, '..', 'credentials.json'),
          registries: [
            {
              urls: [upstreamUrl.replace('//', `//puller:${FAKE_UPSTREAM_PASSWORD}@`)],
              onDemand: true,
            },
          ],
        },
      },
      uplink: {
        targets: {
          backup: s3rverDriverConfig(s3, { accesskey: FAKE_ACCESS, secretkey: FAKE_SECRET }),
        },
      },
    }))
    await writeFile(
      join(base, 'credentials.json'),
      JSON.stringify({ '127.0.0.1': { username: 'u', password: FAKE_CREDENTIAL_PASSWORD } }),
    )
    return file
  }

  it('verify, verify --print and verify --online mask every secret', async () => {
    const file = await secretConfig({ accesskey: 'S3RVER', secretkey: 'S3RVER' })
    for (const args of [[], ['--print'], ['--online']]) {
      const r = await runOutpost(['verify', file, ...args])
      assert.notEqual(r.code, 2, r.stderr)
      assertNoSecret(r.stdout + r.stderr, `verify ${args.join(' ')}`)
    }
    const printed = await runOutpost(['verify', file, '--print'])
    assert.equal(printed.code, 0, printed.stderr)
    const resolved = JSON.parse(printed.stdout.slice(printed.stdout.indexOf('{')))
    assert.equal(resolved.uplink.targets.backup.secretkey, '***')
    assert.equal(resolved.uplink.targets.backup.accesskey, '***')
    assert.equal(resolved.storage.storageDriver.bucket, s3.bucket, 'only secrets are masked')
  })

  it("serve's startup log (debug level) and its failure show no secret, and no SDK notice", async () => {
    const file = await secretConfig({ accesskey: 'S3RVER', secretkey: 'S3RVER' })
    const server = await serveOutpost([file])
    const exit = await server.stop()
    assert.equal(exit.code, 0, server.stderr())
    assertNoSecret(server.stdout() + server.stderr(), 'serve')
    assert.doesNotMatch(server.stdout() + server.stderr(), SDK_NOTICE)

    // The storage's own keys wrong: serve starts, its startup pass fails on s3rver's refusal,
    // and the log line says so in one line, quoting neither key.
    const wrong = await secretConfig({ accesskey: FAKE_ACCESS, secretkey: FAKE_SECRET })
    const refused = await serveOutpost([wrong])
    const line = await logLine(refused, 'startup pass failed')
    await refused.stop()
    assert.equal(line.stack, undefined, 'no stack for an operator error')
    assert.match(
      String(line.error),
      /^AWS InvalidAccessKeyId: .*\(HTTP 403\); the credentials were refused/,
    )
    assertNoSecret(refused.stdout() + refused.stderr(), 'serve with refused keys')
    assert.doesNotMatch(refused.stdout() + refused.stderr(), SDK_NOTICE)
  })

  it('a broken credentials file is named by line, not quoted', async () => {
    const { file, base } = await configFile((root) => ({
      storage: { rootDirectory: root },
      http,
      extensions: {
        sync: {
          credentialsFile: join(root, '..', 'credentials.json'),
          registries: [{ urls: [upstreamUrl], onDemand: true }],
        },
      },
    }))
    await writeFile(
      join(base, 'credentials.json'),
      `{"h": {"username": "u",\n "password": ${FAKE_CREDENTIAL_PASSWORD}}}`,
    )
    for (const command of ['verify', 'serve']) {
      const r = await runOutpost([command, file])
      assert.equal(r.code, 1, r.stderr)
      assertNoSecret(r.stdout + r.stderr, command)
      noStack(r.stderr)
      assert.match(
        r.stderr,
        /extensions\.sync\.credentialsFile: \S+ is not valid JSON|credentialsFile \S+ is not valid JSON: unexpected character at line 2/,
      )
    }
  })
})

describe('backend failures are one line naming the endpoint and what to do', () => {
  it('a DynamoDB endpoint that is down', async () => {
    const gone = await startDynalite()
    await gone.stop()
    const { file } = await configFile((root) => ({
      storage: {
        rootDirectory: root,
        remoteCache: true,
        cacheDriver: dynaliteCacheDriverConfig(gone, { cacheTablename: 'outpost-gone' }),
      },
      http,
    }))
    const r = await runOutpost(['serve', file], undefined, 60_000)
    assert.equal(r.code, 1, r.stderr)
    noStack(r.stderr)
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
    assert.match(
      r.stderr,
      /^outpost: DynamoDB \w+ on table "outpost-gone" failed: .*ECONNREFUSED.*check storage\.cacheDriver endpoint and region/,
    )
  })

  it('no AWS credentials anywhere: the startup pass says so in one line', async () => {
    const { file, base } = await configFile((root) => ({
      storage: {
        rootDirectory: root,
        dedupe: false,
        storageDriver: { ...s3rverDriverConfig(s3), accesskey: undefined, secretkey: undefined },
      },
      http,
    }))
    // No keys in the file, none in the environment, no shared credentials file, no instance
    // metadata service (the SDK's last resort is switched off, it would wait on the network).
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: base,
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_CONFIG_FILE: join(base, 'none'),
      AWS_SHARED_CREDENTIALS_FILE: join(base, 'none'),
    }
    const server = await serveOutpost([file], undefined, env)
    const line = await logLine(server, 'startup pass failed')
    await server.stop()
    assert.equal(line.stack, undefined, 'no stack for an operator error')
    assert.match(
      String(line.error),
      /^no AWS credentials found: set storageDriver\.accesskey and secretkey, or AWS_ACCESS_KEY_ID/,
    )
  })
})

describe('a config file with secrets readable by others', () => {
  it('is a warning, printed before the summary', async () => {
    const { file } = await configFile((root) => ({
      storage: { rootDirectory: root, dedupe: false, storageDriver: s3rverDriverConfig(s3) },
      http,
    }))
    await chmod(file, 0o644)
    const r = await runOutpost(['verify', file])
    assert.equal(r.code, 0, r.stderr)
    assert.match(
      r.stderr,
      /^warning: \S+config\.json holds secrets \(S3 keys\) and is readable by every user/,
    )
    assert.match(r.stdout, /valid \(1 warnings above\)/)
  })
})
