// The Debian package, installed for real on this machine: build the host architecture's .deb,
// `dpkg -i` it, run the installed /usr/bin/outpost with the shipped config the way
// outpost.service would (systemd need not be PID 1: the unit's user, umask, environment and
// command line are read from the installed unit file), push and pull an image with skopeo,
// then `dpkg -r` and `dpkg -P` and check what stays. Needs root; leaves the machine as found.
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync, statSync } from 'node:fs'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { REPO_ROOT, removeDir, tempDir } from './helpers/harness.js'
import { Layout, buildImage, missingTools, run, skopeoCopy } from './helpers/images.js'
import {
  buildDeb,
  dpkgStatus,
  packageSource,
  lookupUser,
  runAsUnit,
  serviceSection,
  spawnAsUnit,
  type UnitService,
} from './helpers/package.js'

const UNIT = '/usr/lib/systemd/system/outpost.service'
const CONFIG = '/etc/outpost/config.json'
const STATE = '/var/lib/outpost'
const VERSION = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')).version
const LAUNCHER_FLAGS = /^OUTPOST_NODE_FLAGS='([^']*)'$/m
  .exec(readFileSync(join(REPO_ROOT, 'bin/outpost'), 'utf8'))![1]
  .split(' ')

/** A process's command line after the program: node's options, the script, its arguments. */
function nodeArgv(pid: number): string[] {
  const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, -1)
  assert.match(argv[0], /(^|\/)node$/, argv.join(' '))
  return argv.slice(1)
}

/** Why this machine cannot host the test, or false: it must be able to leave things as found. */
async function unsuitable(): Promise<string | false> {
  if (process.getuid?.() !== 0) return 'needs root (dpkg -i, a system user)'
  const tools = await missingTools('dpkg-deb', 'skopeo', 'umoci', 'setpriv')
  if (tools) return tools.replace('setpriv', 'setpriv (util-linux)')
  if ((await dpkgStatus('outpost')) !== null) return 'the outpost package is installed already'
  if (lookupUser('outpost')) return 'an outpost user exists already (userdel outpost first)'
  for (const path of [STATE, '/etc/outpost']) {
    if (existsSync(path)) return `${path} exists already: this test would not leave it as found`
  }
  return false
}

const reason = await unsuitable()
const verifyReason = reason || (await missingTools('systemd-analyze'))

/** Whether 127.0.0.1:port can be bound right now. */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer()
    probe.once('error', () => resolve(false))
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)))
  })
}

/**
 * it(), skipped with the reason on a machine that cannot host the test. The reason goes on each
 * test, not on the describe: node 20 leaves a skipped suite out of the summary's "skipped" count,
 * which then read 0 where none of this ran.
 */
const step = (name: string, fn: () => Promise<void>) => it(name, { skip: reason }, fn)

/** Start the installed server as the unit would; resolves once it listens. */
async function serveAsUnit(unit: UnitService, command: string[]) {
  const child = spawnAsUnit(unit, command)
  let output = ''
  child.stdout!.on('data', (d) => (output += d))
  child.stderr!.on('data', (d) => (output += d))
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`not listening after 20 s:\n${output}`))
    }, 20_000)
    child.stdout!.on('data', () => {
      if (/"msg":"listening"/.test(output)) (clearTimeout(timer), resolve())
    })
    void exited.then((code) => reject(new Error(`outpost exited (${code}):\n${output}`)))
  })
  return {
    child,
    output: () => output,
    /** SIGTERM, as systemctl stop (or restart) sends; resolves with the exit code */
    stop(): Promise<number | null> {
      child.kill('SIGTERM')
      return exited
    },
  }
}

describe('the Debian package, installed with dpkg', { timeout: 180_000 }, () => {
  let work: string
  let deb: string
  let server: ChildProcess | undefined

  // Nothing to set up or undo when skipped: after() would remove an outpost user that was here.
  before(async () => {
    if (reason) return
    work = await tempDir('outpost-package-')
  })

  after(async () => {
    if (reason) return
    if (server && server.exitCode === null && server.signalCode === null) server.kill('SIGKILL')
    // Whatever a failed step left: the package, then what purge keeps on purpose.
    if ((await dpkgStatus('outpost')) !== null) await run('dpkg', ['-P', 'outpost']).catch(() => {})
    await removeDir(STATE)
    if (lookupUser('outpost')) await run('userdel', ['outpost']).catch(() => {})
    await run('groupdel', ['outpost']).catch(() => {})
    await removeDir(work)
  })

  step('builds a .deb holding the runtime files only', async () => {
    const arch = (await run('dpkg', ['--print-architecture'])).stdout.trim()
    const built = await buildDeb(REPO_ROOT, work, arch)
    deb = join(work, `outpost_${VERSION}_${arch}.deb`)
    assert.equal(built, deb)

    const field = async (name: string) => (await run('dpkg-deb', ['-f', deb, name])).stdout.trim()
    assert.equal(await field('Architecture'), arch)
    assert.match(await field('Depends'), /(^|, )nodejs \(>= 20\)/)
    await run('dpkg-deb', ['-e', deb, join(work, 'control')])
    assert.equal((await readFile(join(work, 'control/conffiles'), 'utf8')).trim(), CONFIG)

    const files = (await run('dpkg-deb', ['-c', deb])).stdout
      .split('\n')
      .filter(Boolean)
      .map((line) => line.slice(line.indexOf('./') + 1).replace(/ -> .*$/, ''))
    for (const path of [
      '/usr/bin/outpost',
      '/usr/lib/outpost/dist/cli/main.js',
      '/usr/lib/outpost/package.json',
      CONFIG,
      UNIT,
      '/usr/lib/sysusers.d/outpost.conf',
      '/usr/share/doc/outpost/copyright',
      '/usr/share/doc/outpost/examples/config.example.json',
      '/usr/share/doc/outpost/examples/edge-mirror.json',
      '/usr/share/doc/outpost/examples/usb-storage.conf',
      '/usr/share/doc/outpost/examples/small-board.conf',
      '/usr/share/man/man1/outpost.1.gz',
      '/usr/share/doc/outpost/docs/configuration.md.gz',
    ]) {
      assert.ok(files.includes(path), `${path} is in the package`)
    }
    const junk = files.filter((f) =>
      /\.(ts|cts|mts|map|md|c|cc|h)$|\.musl\.node$|\/(test|tests|dist-types)\/$/.test(f),
    )
    assert.deepEqual(junk, [], 'no sources, maps, docs or tests in the package')
    const cpu = { amd64: 'x64', arm64: 'arm64', armhf: 'arm' }[arch] ?? arch
    const addonDirs = new Set(
      files.filter((f) => f.endsWith('.node')).map((f) => f.split('/').slice(-2, -1)[0]),
    )
    assert.deepEqual(
      [...addonDirs].sort(),
      [`lmdb-linux-${cpu}`, `msgpackr-extract-linux-${cpu}`],
      "only the target's prebuilt addons",
    )
    // An edge appliance stays small: today about 1.3 MB; a regression (dev dependencies, other
    // platforms' binaries, unstripped addons) shows up here first.
    assert.ok(statSync(deb).size < 4 << 20, `${deb} is ${statSync(deb).size} bytes`)
  })

  step('dpkg -i makes the user, the storage root and a config only the service reads', async () => {
    await run('dpkg', ['-i', deb])
    assert.equal(await dpkgStatus('outpost'), 'install ok installed')
    const user = lookupUser('outpost')
    assert.ok(user, 'the outpost user exists')
    assert.ok(user.uid > 0 && user.uid < 1000, `a system uid (${user.uid})`)
    assert.match(user.shell, /nologin$/)

    const state = statSync(STATE)
    assert.equal(state.uid, user.uid)
    assert.equal(state.mode & 0o777, 0o750)
    const config = statSync(CONFIG)
    assert.equal(config.uid, 0)
    assert.equal(config.gid, user.gid)
    assert.equal(config.mode & 0o777, 0o640)

    assert.equal((await run('/usr/bin/outpost', ['--version'])).stdout, `outpost ${VERSION}\n`)
    const verified = await runAsUnit(serviceSection(await readFile(UNIT, 'utf8')), [
      '/usr/bin/outpost',
      'verify',
      CONFIG,
      '--print',
    ])
    assert.match(verified.stdout, /config\.json: valid/)
    assert.match(verified.stdout, /"commit": true/)
  })

  it('systemd-analyze verify accepts the installed unit', { skip: verifyReason }, async () => {
    const result = await new Promise<{ code: number | null; text: string }>((resolve) => {
      const child = spawn('systemd-analyze', ['verify', UNIT], {
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      let text = ''
      child.stdout.on('data', (d) => (text += d))
      child.stderr.on('data', (d) => (text += d))
      child.on('exit', (code) => resolve({ code, text }))
    })
    assert.equal(result.code, 0, result.text)
    assert.doesNotMatch(result.text, /outpost\.service/, result.text)
  })

  step('serves the shipped config as the unit would: push and pull with skopeo', async () => {
    const unit: UnitService = serviceSection(await readFile(UNIT, 'utf8'))
    assert.equal(unit.User, 'outpost')
    assert.equal(unit.UMask, '0027')
    let command = unit.ExecStart.split(/\s+/)
    assert.deepEqual(command, ['/usr/bin/outpost', 'serve', CONFIG])
    let port = 5000
    if (!(await portFree(port))) {
      // Something else holds 5000 (a distribution service, say): the same config, another port.
      port = 5000 + Math.floor(Math.random() * 1000) + 1
      const moved = join(work, 'config.json')
      const text = (await readFile(CONFIG, 'utf8')).replace('"port": "5000"', `"port": "${port}"`)
      await writeFile(moved, text, { mode: 0o644 })
      command = [command[0], command[1], moved]
    }
    const started = await serveAsUnit(unit, command)
    server = started.child
    // The server process is the unit's: the outpost user, not root.
    const uid = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${server.pid}/status`, 'utf8'))![1]
    assert.equal(Number(uid), lookupUser('outpost')!.uid)
    // ... and node itself (/usr/bin/outpost exec'd it: no wrapper left), with the tuned options.
    assert.deepEqual(nodeArgv(server.pid!), [
      ...LAUNCHER_FLAGS,
      '/usr/lib/outpost/dist/cli/main.js',
      ...command.slice(1),
    ])

    const source = new Layout(join(work, 'source'))
    await buildImage(source.dir, 'v1', [{ 'etc/motd': 'installed from the .deb\n' }], work)
    const remote = `docker://127.0.0.1:${port}/package-test/hello:v1`
    await skopeoCopy(`oci:${source.dir}:v1`, remote, '--dest-tls-verify=false')
    const pulled = new Layout(join(work, 'pulled'))
    await skopeoCopy(remote, `oci:${pulled.dir}:v1`, '--src-tls-verify=false')
    const sent = await source.manifest('v1')
    const back = await pulled.manifest('v1')
    assert.equal(back.digest, sent.digest)
    for (const layer of sent.parsed.layers) {
      assert.deepEqual(await pulled.blob(layer.digest), await source.blob(layer.digest))
    }

    // Stored under /var/lib/outpost, by the outpost user, with the unit's umask (no world bits).
    const index = join(STATE, 'package-test/hello/index.json')
    const stored = statSync(index)
    assert.equal(stored.uid, lookupUser('outpost')!.uid)
    assert.equal(stored.mode & 0o007, 0, `index.json mode ${(stored.mode & 0o777).toString(8)}`)
    assert.equal(
      (await new Layout(join(STATE, 'package-test/hello')).manifest('v1')).digest,
      sent.digest,
    )

    // systemctl stop: SIGTERM, and a clean exit.
    assert.equal(await started.stop(), 0, started.output())
  })

  step('dpkg -r keeps the config; dpkg -P removes it, keeps the images and the user', async () => {
    await run('dpkg', ['-r', 'outpost'])
    assert.equal(await dpkgStatus('outpost'), 'deinstall ok config-files')
    assert.equal(existsSync('/usr/bin/outpost'), false)
    assert.equal(existsSync('/usr/lib/outpost'), false)
    assert.equal(existsSync(UNIT), false)
    assert.equal(existsSync(CONFIG), true, 'a removed package keeps its conffile')

    await run('dpkg', ['-P', 'outpost'])
    assert.equal(await dpkgStatus('outpost'), null)
    assert.equal(existsSync('/etc/outpost'), false, 'purge removes /etc/outpost')
    assert.equal(existsSync('/etc/systemd/system/multi-user.target.wants/outpost.service'), false)
    assert.equal(existsSync('/etc/systemd/system/outpost.service'), false, 'no mask left behind')
    assert.ok(existsSync(join(STATE, 'package-test/hello/index.json')), 'the images stay')
    assert.ok(lookupUser('outpost'), 'the user owning them stays')
  })
})

// An upgrade as `apt install ./outpost_<new>.deb` does it: the old version installed, its config
// edited by the admin, images pushed, then the new version unpacked over it while the old server
// runs, and the server restarted on it. Two builds of the package: the work tree as it is, and
// a copy with a higher version (or, with OUTPOST_UPGRADE_FROM=<git ref>, the old one built from
// that commit, e.g. the last release).
describe('upgrading the installed package', { timeout: 300_000 }, () => {
  const NEW_VERSION = `${VERSION}+upgrade1`
  const from = process.env.OUTPOST_UPGRADE_FROM
  let work: string
  let oldDeb: string
  let newDeb: string
  const servers: ChildProcess[] = []

  // As above: nothing to set up or undo when skipped.
  before(async () => {
    if (reason) return
    work = await tempDir('outpost-upgrade-')
    const arch = (await run('dpkg', ['--print-architecture'])).stdout.trim()
    let oldSource = REPO_ROOT
    if (from) {
      oldSource = join(work, 'old-source')
      await packageSource(REPO_ROOT, oldSource, VERSION, from)
    }
    const newSource = join(work, 'new-source')
    await packageSource(REPO_ROOT, newSource, NEW_VERSION)
    oldDeb = await buildDeb(oldSource, join(work, 'old'), arch)
    newDeb = await buildDeb(newSource, join(work, 'new'), arch)
  })

  after(async () => {
    if (reason) return
    for (const server of servers) {
      if (server.exitCode === null && server.signalCode === null) server.kill('SIGKILL')
    }
    if ((await dpkgStatus('outpost')) !== null) await run('dpkg', ['-P', 'outpost']).catch(() => {})
    await removeDir(STATE)
    if (lookupUser('outpost')) await run('userdel', ['outpost']).catch(() => {})
    await run('groupdel', ['outpost']).catch(() => {})
    await removeDir(work)
  })

  step('keeps every image served, the admin-edited config untouched, with no prompt', async () => {
    await run('dpkg', ['-i', oldDeb])
    assert.equal((await run('/usr/bin/outpost', ['--version'])).stdout, `outpost ${VERSION}\n`)
    // The admin's edit: another port (one free now, so the test needs no 5000) and a comment.
    let port = 0
    while (!port || !(await portFree(port))) port = 20000 + Math.floor(Math.random() * 20000)
    const edited = (await readFile(CONFIG, 'utf8'))
      .replace('"port": "5000"', `"port": "${port}"`)
      .replace('"http": {', '"http": {\n    // moved off 5000 by the admin')
    assert.match(edited, new RegExp(`moved off 5000[^]*"port": "${port}"`))
    await writeFile(CONFIG, edited)
    const configBefore = statSync(CONFIG)

    const unit: UnitService = serviceSection(await readFile(UNIT, 'utf8'))
    const command = unit.ExecStart.split(/\s+/)
    const old = await serveAsUnit(unit, command)
    servers.push(old.child)
    const source = new Layout(join(work, 'source'))
    await buildImage(source.dir, 'v1', [{ 'etc/motd': 'pushed before the upgrade\n' }], work)
    const remote = `docker://127.0.0.1:${port}/upgrade-test/hello:v1`
    await skopeoCopy(`oci:${source.dir}:v1`, remote, '--dest-tls-verify=false')
    const sent = await source.manifest('v1')

    // dpkg -i of the new version with no terminal to ask on: a conffile question would fail it.
    await run('dpkg', ['-i', newDeb])
    assert.equal(await dpkgStatus('outpost'), 'install ok installed')
    const version = await run('dpkg-query', ['-W', '-f', '${Version}', 'outpost'])
    assert.equal(version.stdout, NEW_VERSION)
    assert.equal(await readFile(CONFIG, 'utf8'), edited, 'the admin-edited config is kept')
    const configAfter = statSync(CONFIG)
    assert.deepEqual(
      [configAfter.mode, configAfter.uid, configAfter.gid],
      [configBefore.mode, configBefore.uid, configBefore.gid],
    )
    const strays = (await readdir('/etc/outpost')).filter((f) => f !== 'config.json')
    assert.deepEqual(strays, [], 'no .dpkg-dist or .dpkg-new beside it')

    // The restart systemd would do: the old server stops cleanly, the new one starts.
    assert.equal(await old.stop(), 0, old.output())
    assert.equal((await run('/usr/bin/outpost', ['--version'])).stdout, `outpost ${NEW_VERSION}\n`)
    // systemd reloads the unit the new version installed before it restarts the service.
    const upgraded = serviceSection(await readFile(UNIT, 'utf8'))
    const next = await serveAsUnit(upgraded, upgraded.ExecStart.split(/\s+/))
    servers.push(next.child)
    assert.deepEqual(nodeArgv(next.child.pid!).slice(0, LAUNCHER_FLAGS.length), LAUNCHER_FLAGS)
    assert.doesNotMatch(next.output(), /unclean shutdown|another version|rebuil/, next.output())

    const catalog = await fetch(`http://127.0.0.1:${port}/v2/_catalog`)
    const listed = (await catalog.json()) as { repositories: string[] }
    assert.deepEqual(listed.repositories, ['upgrade-test/hello'])
    const pulled = new Layout(join(work, 'pulled'))
    await skopeoCopy(remote, `oci:${pulled.dir}:v1`, '--src-tls-verify=false')
    assert.equal((await pulled.manifest('v1')).digest, sent.digest)
    for (const layer of sent.parsed.layers) {
      assert.deepEqual(await pulled.blob(layer.digest), await source.blob(layer.digest))
    }
    assert.equal(await next.stop(), 0, next.output())
  })
})
