// A compiled Outpost (dist/) serving one configuration file in `dir`, for the bench sections that
// need a config of their own (auth, pull-through): started, waited for until GET /v2/ answers,
// and stopped with its directory removed.
import { spawn } from 'node:child_process'
import { rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

export interface ServedOutpost {
  url: URL
  /** the server's process id (for /proc/<pid> figures) */
  pid: number
  /** SIGTERM, wait for the exit, remove `dir` */
  stop(): Promise<void>
}

export async function serveConfig(
  repoRoot: string,
  dir: string,
  config: { http: { port: number } } & Record<string, unknown>,
): Promise<ServedOutpost> {
  await writeFile(join(dir, 'config.json'), JSON.stringify(config))
  const main = join(repoRoot, 'dist/cli/main.js')
  // As targets.ts: BENCH_OUTPOST_NODE_ARGS="--cpu-prof --cpu-prof-dir=..." profiles the server.
  const extra = (process.env.BENCH_OUTPOST_NODE_ARGS ?? '').split(' ').filter(Boolean)
  const child = spawn(process.execPath, [...extra, main, 'serve', join(dir, 'config.json')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let errors = ''
  child.stderr!.on('data', (d) => (errors += d))
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const url = new URL(`http://127.0.0.1:${config.http.port}`)
  const stop = async () => {
    if (child.exitCode === null) child.kill('SIGTERM')
    await exited
    await rm(dir, { recursive: true, force: true })
  }
  for (let i = 0; ; i++) {
    try {
      await fetch(new URL('/v2/', url))
      return { url, pid: child.pid!, stop }
    } catch {
      if (child.exitCode !== null || i > 400) {
        await stop()
        throw new Error(`Outpost did not start: ${errors}`)
      }
      await sleep(50)
    }
  }
}
