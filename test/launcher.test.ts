// The launcher (bin/outpost, installed as /usr/bin/outpost): it execs node with the Node options
// Outpost is tuned for, in the same process (no wrapper left between systemd and node), unless a
// non-empty NODE_OPTIONS says otherwise; and it is the only copy of those options (the unit has
// none, the bigger-board drop-in keeps the others). Here the entry point beside the launcher is a
// probe that reports what node it runs in; test/start.test.ts and test/package.test.ts run the
// real server through it.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { copyFile, mkdir, readFile, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { REPO_ROOT, removeDir, tempDir } from './helpers/harness.js'

const LAUNCHER = join(REPO_ROOT, 'bin/outpost')
const FLAGS = /^OUTPOST_NODE_FLAGS='([^']*)'$/m.exec(await readFile(LAUNCHER, 'utf8'))?.[1]

const PROBE = `process.stdout.write(JSON.stringify({
  pid: process.pid,
  execArgv: process.execArgv,
  nodeOptions: process.env.NODE_OPTIONS ?? null,
  argv: process.argv.slice(2),
  gc: typeof globalThis.gc,
}))
`

interface Probe {
  pid: number
  execArgv: string[]
  nodeOptions: string | null
  argv: string[]
  gc: string
}

let dir: string
before(async () => {
  // The installed shape: <lib>/bin/outpost, <lib>/dist/cli/main.js, and a link to the launcher
  // from elsewhere (/usr/bin/outpost -> ../lib/outpost/bin/outpost).
  dir = await tempDir('outpost-launcher-')
  await mkdir(join(dir, 'lib/bin'), { recursive: true })
  await mkdir(join(dir, 'lib/dist/cli'), { recursive: true })
  await mkdir(join(dir, 'usr-bin'))
  await copyFile(LAUNCHER, join(dir, 'lib/bin/outpost'))
  await writeFile(join(dir, 'lib/dist/cli/main.js'), PROBE)
  await symlink('../lib/bin/outpost', join(dir, 'usr-bin/outpost'))
})
after(() => removeDir(dir))

/** Run the launcher at `path` with NODE_OPTIONS as given (undefined: unset). */
function launch(path: string, nodeOptions: string | undefined, args: string[] = []) {
  const env: NodeJS.ProcessEnv = { ...process.env }
  delete env.NODE_OPTIONS
  if (nodeOptions !== undefined) env.NODE_OPTIONS = nodeOptions
  return new Promise<{ spawned: number; probe: Probe }>((resolve, reject) => {
    const child = spawn(path, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (err += d))
    child.once('close', (code) => {
      if (code !== 0) return reject(new Error(`launcher exited ${code}: ${err}`))
      resolve({ spawned: child.pid!, probe: JSON.parse(out) as Probe })
    })
  })
}

describe('bin/outpost', () => {
  it('holds the tuned options: heap cap, small young generation, --expose-gc, one V8 thread', () => {
    assert.ok(FLAGS, 'OUTPOST_NODE_FLAGS is set in bin/outpost')
    assert.deepEqual(FLAGS.split(' ').sort(), [
      '--expose-gc',
      '--max-old-space-size=192',
      '--max-semi-space-size=2',
      '--v8-pool-size=1',
    ])
  })

  for (const [how, value] of [
    ['unset', undefined],
    ['empty', ''],
  ] as const) {
    it(`with NODE_OPTIONS ${how}, execs node with them in the same process`, async () => {
      for (const path of [join(dir, 'lib/bin/outpost'), join(dir, 'usr-bin/outpost')]) {
        const { spawned, probe } = await launch(path, value, ['serve', 'a b', '--port=1'])
        assert.deepEqual(probe.execArgv, FLAGS!.split(' '), path)
        assert.equal(probe.gc, 'function', '--expose-gc took effect')
        assert.equal(probe.pid, spawned, 'node replaced the shell (exec): no wrapper process')
        assert.deepEqual(probe.argv, ['serve', 'a b', '--port=1'], 'arguments pass intact')
        assert.equal(probe.nodeOptions, null)
      }
    })
  }

  it('a non-empty NODE_OPTIONS wins: no options of its own', async () => {
    const { spawned, probe } = await launch(
      join(dir, 'usr-bin/outpost'),
      '--max-old-space-size=300',
    )
    assert.deepEqual(probe.execArgv, [])
    assert.equal(probe.nodeOptions, '--max-old-space-size=300')
    assert.equal(probe.gc, 'undefined')
    assert.equal(probe.pid, spawned)
  })
})

describe('the one copy of the Node options', () => {
  it('the unit sets no NODE_OPTIONS and starts the launcher', async () => {
    const unit = await readFile(join(REPO_ROOT, 'systemd/outpost.service'), 'utf8')
    assert.doesNotMatch(unit, /^Environment=.*NODE_OPTIONS/m)
    assert.match(unit, /^ExecStart=\/usr\/bin\/outpost serve /m)
  })

  for (const [board, heapMiB] of [
    ['bigger-board', 768],
    ['small-board', 96],
  ] as const) {
    it(`the ${board} drop-in replaces the heap cap and keeps the other options`, async () => {
      const dropIn = await readFile(join(REPO_ROOT, `systemd/examples/${board}.conf`), 'utf8')
      const options = /^Environment="NODE_OPTIONS=([^"]*)"$/m.exec(dropIn)?.[1]
      assert.ok(options, dropIn)
      const others = (flags: string) =>
        flags
          .split(' ')
          .filter((f) => !f.startsWith('--max-old-space-size='))
          .sort()
      assert.deepEqual(others(options), others(FLAGS!))
      assert.match(options, new RegExp(`--max-old-space-size=${heapMiB}( |$)`))
    })
  }

  it('npm start and the package.json bin run the launcher', async () => {
    const pkg = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8'))
    assert.match(pkg.scripts.start, /(^|&& )bin\/outpost serve$/)
    assert.equal(pkg.bin.outpost, 'bin/outpost')
    assert.ok(pkg.files.includes('bin'))
  })
})
