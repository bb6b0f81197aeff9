// The `outpost` command in a child process (through tsx), from any working directory: run to
// completion, or start `serve` and wait for its "listening" line. For CLI and lifecycle tests.
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { REPO_ROOT } from './harness.js'

const MAIN = join(REPO_ROOT, 'src/cli/main.ts')
// Resolved here, so the child finds tsx whatever its working directory is.
const TSX = import.meta.resolve('tsx')

export interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
}

export interface OutpostProcess {
  child: ChildProcess
  stdout(): string
  stderr(): string
  exited: Promise<Exit>
}

/** `env`: the child's whole environment (default: this process's). */
export function spawnOutpost(
  args: string[],
  cwd = REPO_ROOT,
  env: NodeJS.ProcessEnv = process.env,
): OutpostProcess {
  const child = spawn(process.execPath, ['--import', TSX, MAIN, ...args], {
    cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stdout!.on('data', (d) => (out += d))
  child.stderr!.on('data', (d) => (err += d))
  const exited = new Promise<Exit>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal })),
  )
  return { child, stdout: () => out, stderr: () => err, exited }
}

/** Run `outpost <args>` to completion; a hung command fails the test after `timeoutMs`. */
export async function runOutpost(
  args: string[],
  cwd?: string,
  timeoutMs = 20_000,
  env?: NodeJS.ProcessEnv,
): Promise<Exit & { stdout: string; stderr: string }> {
  const p = spawnOutpost(args, cwd, env)
  const timer = setTimeout(() => p.child.kill('SIGKILL'), timeoutMs)
  const exit = await p.exited
  clearTimeout(timer)
  return { ...exit, stdout: p.stdout(), stderr: p.stderr() }
}

export interface ServingOutpost extends OutpostProcess {
  url: string
  /** send `signal` (if still running) and wait for the exit */
  stop(signal?: NodeJS.Signals): Promise<Exit>
}

/** Start `outpost serve <args>` and resolve once it logs "listening". */
export async function serveOutpost(
  args: string[],
  cwd?: string,
  env?: NodeJS.ProcessEnv,
): Promise<ServingOutpost> {
  const p = spawnOutpost(['serve', ...args], cwd, env)
  const url = await new Promise<string>((resolve, reject) => {
    const check = () => {
      const m = /"msg":"listening","url":"([^"]+)"/.exec(p.stdout())
      if (m) resolve(m[1])
    }
    p.child.stdout!.on('data', check)
    p.exited.then((exit) =>
      reject(
        new Error(
          `serve exited (${exit.code ?? exit.signal}) before listening:\n${p.stdout()}${p.stderr()}`,
        ),
      ),
    )
  })
  return {
    ...p,
    url,
    async stop(signal = 'SIGTERM') {
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill(signal)
      return p.exited
    },
  }
}

/** Every stdout line as the JSON object it must be. */
export function logLines(stdout: string): Array<Record<string, unknown>> {
  return stdout
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => {
      try {
        return JSON.parse(line) as Record<string, unknown>
      } catch {
        throw new Error(`stdout line is not JSON: ${line}`)
      }
    })
}

/** Whether 127.0.0.1:`port` can be bound right now. */
export function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer()
    probe.once('error', () => resolve(false))
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)))
  })
}
