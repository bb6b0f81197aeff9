// `npm start` as a developer meets it, in a copy of the repository: the first start compiles,
// a second one does not (it answers at once), an edited source compiles again; the server it
// starts is node itself with the launcher's options (bin/outpost), and `npm start -- --port P`
// reaches `outpost serve`.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { cp, readFile, stat, symlink, utimes } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { REPO_ROOT, removeDir, tempDir } from './helpers/harness.js'
import { haveCommand } from './helpers/harness.js'

const FLAGS = /^OUTPOST_NODE_FLAGS='([^']*)'$/m
  .exec(await readFile(join(REPO_ROOT, 'bin/outpost'), 'utf8'))![1]
  .split(' ')
const reason = (await haveCommand('npm')) ? false : 'needs npm'

interface Started {
  /** milliseconds from `npm start` to the first 200 from /v2/ */
  answeredAfterMs: number
  output: string
  /** the pid in the storage lock: the process that serves */
  serverPid: number
  serverArgv: string[]
  stop(): Promise<number | null>
}

let copy: string
let work: string
before(async () => {
  // What `npm start` reads: sources, config, scripts, launcher; the dependencies are shared. The
  // current dist/ (with tsc's incremental state) comes along when there is one, so the first
  // build here is an incremental one.
  copy = await tempDir('outpost-start-')
  work = await tempDir('outpost-start-root-')
  for (const entry of ['src', 'bin', 'scripts', 'package.json', 'tsconfig.json']) {
    await cp(join(REPO_ROOT, entry), join(copy, entry), { recursive: true })
  }
  if (await stat(join(REPO_ROOT, 'dist/cli')).catch(() => null)) {
    await cp(join(REPO_ROOT, 'dist'), join(copy, 'dist'), {
      recursive: true,
      filter: (source) =>
        !source.startsWith(join(REPO_ROOT, 'dist/deb')) && !source.endsWith('.build-stamp'),
    })
  }
  await symlink(join(REPO_ROOT, 'node_modules'), join(copy, 'node_modules'))
})
after(async () => {
  await removeDir(copy)
  await removeDir(work)
})

/** `npm start -- --port 0 --root <work>/<root>` in the copy; resolves once /v2/ answers. */
async function npmStart(root = 'root'): Promise<Started> {
  const began = Date.now()
  // Its own process group, so the test can stop npm, the shell and the server together.
  const child = spawn('npm', ['start', '--', '--port', '0', '--root', join(work, root)], {
    cwd: copy,
    detached: true,
    env: { ...process.env, NODE_OPTIONS: '', npm_config_update_notifier: 'false' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout.on('data', (d) => (output += d))
  child.stderr.on('data', (d) => (output += d))
  const exited = new Promise<number | null>((resolve) => child.once('close', resolve))
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', () => {
      const m = /"msg":"listening","url":"([^"]+)"/.exec(output)
      if (m) resolve(m[1])
    })
    void exited.then((code) => reject(new Error(`npm start exited (${code}):\n${output}`)))
  })
  const res = await fetch(`${url}/v2/`)
  assert.equal(res.status, 200)
  const answeredAfterMs = Date.now() - began
  const lock = JSON.parse(await readFile(join(work, root, '_outpost/lock'), 'utf8'))
  const serverArgv = (await readFile(`/proc/${lock.pid}/cmdline`, 'utf8')).split('\0')
  return {
    answeredAfterMs,
    output,
    serverPid: lock.pid,
    serverArgv,
    async stop() {
      process.kill(-child.pid!, 'SIGTERM')
      return exited
    },
  }
}

const COMPILING = /compiling src\/ to dist\//

describe('npm start', { skip: reason, timeout: 300_000 }, () => {
  it('compiles on the first start, not on the second, and again after an edit', async () => {
    const first = await npmStart()
    await first.stop()
    assert.match(first.output, COMPILING, first.output)

    const second = await npmStart()
    await second.stop()
    assert.doesNotMatch(second.output, COMPILING, second.output)
    console.log(`second npm start answered /v2/ after ${second.answeredAfterMs} ms`)

    // An edited source (its mtime moves past the build's) compiles again.
    const edited = join(copy, 'src/cli/help.ts')
    const later = new Date(Date.now() + 2000)
    await utimes(edited, later, later)
    const third = await npmStart()
    await third.stop()
    assert.match(third.output, COMPILING, third.output)
  })

  it('serves in node itself, with the launcher options, on the port given after --', async () => {
    // A new root: its first start is no unclean shutdown.
    const started = await npmStart('new-root')
    try {
      const node = started.serverArgv.findIndex((a) => a.endsWith('dist/cli/main.js'))
      assert.ok(node > 0, started.serverArgv.join(' '))
      assert.deepEqual(started.serverArgv.slice(1, node), FLAGS, 'tuned options on node itself')
      assert.deepEqual(started.serverArgv.slice(node + 1, node + 3), ['serve', '--port'])
      assert.doesNotMatch(started.output, /unclean shutdown/)
    } finally {
      await started.stop()
    }
    assert.ok((await stat(join(work, 'new-root/_outpost/clean-stop'))).isFile(), 'a clean stop')
  })
})
