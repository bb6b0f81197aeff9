// Helpers for the Debian package test: building the package (also from a copy with another
// version, for upgrades), dpkg's view of a package, /etc/passwd, and running a command the way a
// systemd unit's [Service] section would (User=, Group=, UMask=, WorkingDirectory=,
// Environment=) when systemd is not PID 1, with util-linux's setpriv.
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { cp, mkdir, readFile, symlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { RunResult } from './images.js'

/** dpkg's status line for a package ("install ok installed"), or null when dpkg has none. */
export function dpkgStatus(pkg: string): Promise<string | null> {
  return new Promise((resolve) => {
    execFile('dpkg-query', ['-W', '-f', '${Status}', pkg], (err, stdout) => {
      const status = stdout.trim()
      resolve(err || status === '' || status.endsWith('not-installed') ? null : status)
    })
  })
}

export interface PasswdEntry {
  uid: number
  gid: number
  home: string
  shell: string
}

export function lookupUser(name: string): PasswdEntry | undefined {
  for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
    const [user, , uid, gid, , home, shell] = line.split(':')
    if (user === name) return { uid: Number(uid), gid: Number(gid), home, shell }
  }
  return undefined
}

/** A unit's [Service] settings; repeated Environment= lines are joined with spaces. */
export type UnitService = Record<string, string>

export function serviceSection(unitText: string): UnitService {
  const settings: UnitService = {}
  let section = ''
  for (const raw of unitText.split('\n')) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue
    if (line.startsWith('[')) {
      section = line
      continue
    }
    if (section !== '[Service]') continue
    const eq = line.indexOf('=')
    const key = line.slice(0, eq)
    const value = line.slice(eq + 1)
    settings[key] = key === 'Environment' && settings[key] ? `${settings[key]} ${value}` : value
  }
  return settings
}

/** setpriv + sh: the unit's user and groups, no new privileges, its umask and directory. */
function asUnit(unit: UnitService, argv: string[]) {
  const env: Record<string, string> = {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    LANG: 'C.UTF-8',
  }
  // systemd's Environment= words: whitespace-separated, a word may be quoted whole
  // ("NODE_OPTIONS=--a --b").
  const words = (unit.Environment ?? '').match(/"[^"]*"|\S+/g) ?? []
  for (const word of words) {
    const assignment = word.startsWith('"') ? word.slice(1, -1) : word
    const eq = assignment.indexOf('=')
    env[assignment.slice(0, eq)] = assignment.slice(eq + 1)
  }
  const args = [
    `--reuid=${unit.User}`,
    `--regid=${unit.Group ?? unit.User}`,
    '--init-groups',
    '--no-new-privs',
    '--',
    'sh',
    '-c',
    'umask "$0" && cd "$1" && shift && exec "$@"',
    unit.UMask ?? '0022',
    unit.WorkingDirectory ?? '/',
    ...argv,
  ]
  return { args, env }
}

/** Start a long-running command as the unit would; stdout and stderr are piped. */
export function spawnAsUnit(unit: UnitService, argv: string[]): ChildProcess {
  const { args, env } = asUnit(unit, argv)
  return spawn('setpriv', args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
}

/** Run a command to completion as the unit would; rejects with its stderr on failure. */
export function runAsUnit(unit: UnitService, argv: string[]): Promise<RunResult> {
  const { args, env } = asUnit(unit, argv)
  return new Promise((resolve, reject) => {
    execFile('setpriv', args, { env }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${argv.join(' ')} failed: ${err.message}\n${stderr}`))
      else resolve({ stdout, stderr })
    })
  })
}

/** Run `<source>/packaging/deb/build-deb.sh <arch>` into `outDir`; resolves with the .deb's path. */
export function buildDeb(source: string, outDir: string, arch: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const child = spawn(join(source, 'packaging/deb/build-deb.sh'), [arch], {
      env: { ...process.env, OUTPOST_DEB_DIR: outDir },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (err += d))
    child.on('exit', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(err))))
  })
}

/**
 * What build-deb.sh reads, copied from the checkout at `repo` into `dest` (dependencies shared
 * through a link), with package.json's version set to `version`: a second build of the package,
 * as a later release would be. With `gitRef`, the tree of that commit instead of the work tree
 * (an upgrade from a real earlier release).
 */
export async function packageSource(
  repo: string,
  dest: string,
  version: string,
  gitRef?: string,
): Promise<void> {
  await mkdir(dest, { recursive: true })
  if (gitRef) {
    await new Promise<void>((resolve, reject) => {
      const archive = spawn('git', ['-C', repo, 'archive', gitRef], {
        stdio: ['ignore', 'pipe', 'inherit'],
      })
      const tar = spawn('tar', ['-x', '-C', dest], { stdio: ['pipe', 'inherit', 'inherit'] })
      archive.stdout.pipe(tar.stdin)
      archive.once(
        'exit',
        (code) => code !== 0 && reject(new Error(`git archive ${gitRef}: ${code}`)),
      )
      tar.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`tar: ${code}`))))
    })
  } else {
    for (const entry of SOURCES) {
      await cp(join(repo, entry), join(dest, entry), { recursive: true })
    }
  }
  await symlink(join(repo, 'node_modules'), join(dest, 'node_modules'))
  const pkg = JSON.parse(await readFile(join(dest, 'package.json'), 'utf8'))
  pkg.version = version
  await writeFile(join(dest, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`)
}

const SOURCES = [
  'bin',
  'docs',
  'packaging',
  'scripts',
  'src',
  'systemd',
  'package.json',
  'package-lock.json',
  'tsconfig.json',
  'README.md',
]
