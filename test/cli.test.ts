// The outpost command as an operator meets it (docs/configuration.md, docs/operations.md): version, help with examples,
// verify's exit codes, serve's refusal of a missing root, the zero-config default on
// 127.0.0.1:5000 under ./data, one server per storage root, and gc's help (what gc does to a
// storage is test/gc-cli.test.ts).
import assert from 'node:assert/strict'
import { readFile, stat, writeFile } from 'node:fs/promises'
import { createServer, type AddressInfo } from 'node:net'
import { dirname, join } from 'node:path'
import { after, describe, it } from 'node:test'
import { REPO_ROOT, removeDir, tempDir } from './helpers/harness.js'
import { logLines, portIsFree, runOutpost, serveOutpost } from './helpers/outpost-cli.js'

const fixture = (name: string) => join(REPO_ROOT, 'test/fixtures', name)
const VERSION = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8'))
  .version as string

const reasonPort5000Busy = (await portIsFree(5000))
  ? false
  : '127.0.0.1:5000 is in use by another process, so the zero-config default cannot bind it'

const dirs: string[] = []
async function workDir(): Promise<string> {
  const dir = await tempDir('outpost-cli-')
  dirs.push(dir)
  return dir
}
after(async () => {
  for (const dir of dirs) await removeDir(dir)
})

/** A config file in a fresh directory serving `root` on an OS-picked port. */
async function configFor(root: string, http: Record<string, unknown> = { port: 0 }) {
  const file = join(await workDir(), 'config.json')
  await writeFile(
    file,
    JSON.stringify({ storage: { rootDirectory: root }, http: { address: '127.0.0.1', ...http } }),
  )
  return file
}

describe('version and help', () => {
  it('prints the package.json version for --version and version', async () => {
    for (const args of [['--version'], ['version']]) {
      const r = await runOutpost(args)
      assert.equal(r.code, 0)
      assert.equal(r.stdout, `outpost ${VERSION}\n`)
    }
  })

  it('prints usage with examples for --help, serve --help and verify --help', async () => {
    const main = await runOutpost(['--help'])
    assert.equal(main.code, 0)
    assert.match(main.stdout, /^Usage:/m)
    assert.match(main.stdout, /outpost serve \[config\.json\]/)
    assert.match(main.stdout, /outpost verify <config\.json>/)
    assert.match(main.stdout, /outpost gc \[config\.json\] \[--dry-run\]/)
    assert.match(main.stdout, /^Examples:\n {2}outpost serve\n/m)

    const serve = await runOutpost(['serve', '--help'])
    assert.equal(serve.code, 0)
    assert.match(serve.stdout, /^outpost serve \[config\.json\]/)
    assert.match(serve.stdout, /127\.0\.0\.1:5000/)
    assert.match(serve.stdout, /^Examples:\n {2}outpost serve\n {2}outpost serve config\.json/m)

    const verify = await runOutpost(['verify', '--help'])
    assert.equal(verify.code, 0)
    assert.match(verify.stdout, /^outpost verify <config\.json>/)
    assert.match(verify.stdout, /^Examples:\n {2}outpost verify \S+/m)
  })

  it('exits 2 on an unknown command, naming it and showing the usage', async () => {
    const r = await runOutpost(['frobnicate'])
    assert.equal(r.code, 2)
    assert.equal(r.stdout, '')
    assert.match(r.stderr, /unknown command "frobnicate"/)
    assert.match(r.stderr, /Usage:/)
  })
})

describe('outpost verify', () => {
  /** The fixture with its storage root moved to a fresh directory that exists. */
  async function withRoot(name: string, root: string): Promise<string> {
    const dir = await workDir()
    const file = join(dir, name)
    await writeFile(file, (await readFile(fixture(name), 'utf8')).replace(root, dir))
    return file
  }
  const printed = (stdout: string) => JSON.parse(stdout.slice(stdout.indexOf('{')))

  it('exits 0 on a valid file with a short summary; --print adds what it resolves to', async () => {
    const file = await withRoot('local-plain.json', '/var/lib/outpost')
    const short = await runOutpost(['verify', file])
    assert.equal(short.code, 0, short.stderr)
    assert.match(short.stdout, /local-plain\.json: valid\n/)
    assert.match(short.stdout, /^ {2}listen +http:\/\/127\.0\.0\.1:5000$/m)
    assert.match(short.stdout, /^ {2}store \/ +\S+ \(dedupe off, gc once\)$/m)
    assert.doesNotMatch(short.stdout, /[{}]/, 'the resolved configuration only with --print')
    assert.ok(short.stdout.split('\n').length < 10, short.stdout)

    const r = await runOutpost(['verify', file, '--print'])
    assert.equal(r.code, 0, r.stderr)
    const resolved = printed(r.stdout)
    assert.equal(resolved.http.port, 5000)
    assert.equal(resolved.storage.rootDirectory, dirname(file))
    assert.equal(resolved.storage.uploadExpiryMs, 5_400_000)
  })

  it("exits 0 on zot's storage example, resolving dedupe and the GC schedule", async () => {
    const file = await withRoot('zot-storage-example.json', '/tmp/zot')
    const r = await runOutpost(['verify', '--print', file])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /zot-storage-example\.json: valid/)
    const { storage } = printed(r.stdout)
    assert.equal(storage.commit, true)
    assert.equal(storage.dedupe, true)
    assert.deepEqual(storage.gc, { enabled: true, delayMs: 3_600_000, intervalMs: 86_400_000 })
    assert.deepEqual(storage.minFreeSpace, { percent: 5 })
  })

  it("accepts zot's S3 example as written: dedupe on S3 with a DynamoDB cache", async () => {
    const file = await withRoot('zot-s3-example.json', '/tmp/zot')
    const r = await runOutpost(['verify', file, '--print'])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /^ {2}store \/ +S3 bucket zot-storage, .*DynamoDB table MainTable\)$/m)
    const { storage } = printed(r.stdout)
    assert.equal(storage.dedupe, true)
    assert.equal(storage.remoteCache.table, 'MainTable')
  })

  it('exits 2 on an invalid file and names every problem by its JSON path', async () => {
    const r = await runOutpost(['verify', fixture('invalid-several.json')])
    assert.equal(r.code, 2)
    assert.equal(r.stdout, '')
    assert.match(r.stderr, /invalid-several\.json/)
    const problems = [
      /storage\.foo: unknown key/,
      /storage\.commit: .*expected boolean/,
      /storage\.gcInterval: .*Go duration/,
      /storage\.dedupe: .*expected boolean/,
      /http\.port: /,
      /log\.level: /,
    ]
    for (const problem of problems) assert.match(r.stderr, problem)
    assert.equal(r.stderr.match(/^\s+- /gm)?.length, problems.length, r.stderr)
  })

  it('exits 2 when the file is missing or not given', async () => {
    const missing = await runOutpost(['verify', join(await workDir(), 'nope.json')])
    assert.equal(missing.code, 2)
    assert.match(missing.stderr, /nope\.json:\n\s+- cannot read/)
    const none = await runOutpost(['verify'])
    assert.equal(none.code, 2)
    assert.match(none.stderr, /verify takes exactly one config file/)
  })
})

describe('outpost serve', () => {
  it('refuses a configured root that does not exist, and does not create it', async () => {
    const cwd = await workDir()
    const r = await runOutpost(['serve', fixture('missing-root.json')], cwd)
    assert.notEqual(r.code, 0)
    assert.equal(r.signal, null)
    const root = join(cwd, 'not-mounted')
    assert.ok(r.stderr.includes(`storage.rootDirectory ${root} does not exist`), r.stderr)
    assert.equal(await stat(root).catch(() => null), null)
    assert.doesNotMatch(r.stdout, /listening/)
  })

  it('exits 2 on an invalid config without serving', async () => {
    const r = await runOutpost(['serve', fixture('invalid-several.json')])
    assert.equal(r.code, 2)
    assert.match(r.stderr, /storage\.foo: unknown key/)
    assert.doesNotMatch(r.stdout, /listening/)
  })

  it(
    'with no config, creates ./data and serves on 127.0.0.1:5000',
    { skip: reasonPort5000Busy },
    async () => {
      const cwd = await workDir()
      const server = await serveOutpost([], cwd)
      try {
        assert.equal(server.url, 'http://127.0.0.1:5000')
        assert.ok((await stat(join(cwd, 'data'))).isDirectory())
        const res = await fetch('http://127.0.0.1:5000/v2/')
        assert.equal(res.status, 200)
        assert.equal(res.headers.get('docker-distribution-api-version'), 'registry/2.0')
        const listening = logLines(server.stdout()).find((l) => l.msg === 'listening')
        assert.equal(listening?.root, join(cwd, 'data'))
      } finally {
        const exit = await server.stop('SIGTERM')
        assert.deepEqual(exit, { code: 0, signal: null })
      }
      assert.ok((await stat(join(cwd, 'data/_outpost/clean-stop'))).isFile())
    },
  )

  it('without a config, --address, --port and --root move the server (root created)', async () => {
    const cwd = await workDir()
    // Port 0: the OS picks one; the log line names it.
    const server = await serveOutpost(
      ['--address', '127.0.0.1', '--port=0', '--root', 'elsewhere'],
      cwd,
    )
    try {
      assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/)
      assert.notEqual(server.url, 'http://127.0.0.1:5000')
      const listening = logLines(server.stdout()).find((l) => l.msg === 'listening')
      assert.equal(listening?.root, join(cwd, 'elsewhere'))
      assert.equal((await fetch(`${server.url}/v2/`)).status, 200)
      assert.equal(await stat(join(cwd, 'data')).catch(() => null), null, 'no ./data')
    } finally {
      assert.deepEqual(await server.stop('SIGTERM'), { code: 0, signal: null })
    }
    assert.ok((await stat(join(cwd, 'elsewhere/_outpost/clean-stop'))).isFile())
  })

  it('refuses a bad --port, an unknown option, and flags beside a config file', async () => {
    const cwd = await workDir()
    const cases: Array<[string[], RegExp]> = [
      [['--port', '70000'], /--port 70000: expected a port number \(0-65535\)/],
      [['--port', 'web'], /--port web: expected a port number/],
      [['--port'], /--port needs a value/],
      [['--listen', '1'], /unknown option --listen/],
      [[fixture('missing-root.json'), '--port', '1'], /apply without a config file/],
    ]
    for (const [args, message] of cases) {
      const r = await runOutpost(['serve', ...args], cwd)
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`)
      assert.match(r.stderr, message)
      assert.doesNotMatch(r.stdout, /listening/)
    }
    assert.equal(await stat(join(cwd, 'data')).catch(() => null), null, 'nothing created')
  })

  it('refuses a second server on the same root while the first runs', async () => {
    const root = await workDir()
    const first = await serveOutpost([await configFor(root)])
    try {
      const lockBefore = await readFile(join(root, '_outpost/lock'), 'utf8')
      const second = await runOutpost(['serve', await configFor(root)])
      assert.equal(second.code, 1)
      assert.match(
        second.stderr,
        new RegExp(`storage is in use by serve \\(pid ${first.child.pid}\\)`),
      )
      assert.doesNotMatch(second.stdout, /listening/)
      // The refusal took nothing from the first server: its lock stands and it still serves.
      assert.equal(await readFile(join(root, '_outpost/lock'), 'utf8'), lockBefore)
      assert.equal((await fetch(`${first.url}/v2/`)).status, 200)
    } finally {
      assert.deepEqual(await first.stop('SIGTERM'), { code: 0, signal: null })
    }
    // Once the first has stopped, the root is free again.
    const third = await serveOutpost([await configFor(root)])
    assert.deepEqual(await third.stop('SIGTERM'), { code: 0, signal: null })
  })

  it('exits 1 naming the address when the port is taken', async () => {
    const blocker = createServer()
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
    const { port } = blocker.address() as AddressInfo
    try {
      const r = await runOutpost(['serve', await configFor(await workDir(), { port })])
      assert.equal(r.code, 1)
      assert.match(r.stderr, new RegExp(`127\\.0\\.0\\.1:${port} is already in use`))
    } finally {
      blocker.close()
    }
  })
})

describe('outpost gc', () => {
  it('prints usage with examples for gc --help, before reading any config', async () => {
    // The missing root would fail a real pass: exit 0 shows --help ran nothing.
    for (const args of [
      ['gc', '--help'],
      ['gc', '-h'],
      ['gc', fixture('missing-root.json'), '--help'],
    ]) {
      const r = await runOutpost(args)
      assert.equal(r.code, 0, r.stderr)
      assert.equal(r.stderr, '')
      assert.match(r.stdout, /^outpost gc \[config\.json\] \[--dry-run\]\n/)
      assert.match(r.stdout, /--dry-run/)
      assert.match(r.stdout, /gcDelay/)
      assert.match(r.stdout, /refuses to run while a server holds the storage/)
      assert.match(r.stdout, /also runs while a server does/)
      assert.match(
        r.stdout,
        /^Examples:\n {2}outpost gc --dry-run\n {2}outpost gc \S+\.json --dry-run\n/m,
      )
    }
  })

  it('is listed by outpost --help with what it does', async () => {
    const r = await runOutpost(['--help'])
    assert.equal(r.code, 0)
    const usage = r.stdout.slice(r.stdout.indexOf('Usage:'), r.stdout.indexOf('Examples:'))
    assert.match(usage, /outpost gc \[config\.json\] \[--dry-run\]\s+one garbage-collection pass/)
  })
})
