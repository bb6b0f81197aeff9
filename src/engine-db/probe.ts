// LMDB maps its file into memory, so a damaged environment can crash the process that opens it
// (a segfault, not an exception). Before the server opens the index, a child process opens it
// and walks every key; if the child dies or fails, the index is declared unopenable and is
// rebuilt, instead of taking the registry down with it.
import { spawn } from 'node:child_process'
import { stat } from 'node:fs/promises'
import { join } from 'node:path'

const PROBE = `
const { open } = await import(process.argv[1])
const db = open({ path: process.argv[2], compression: false, readOnly: true })
let n = 0
for (const _ of db.getRange({})) n++
await db.close()
process.stdout.write(String(n))
`

/** True when the environment at `path` opens and reads cleanly (or does not exist yet). */
export async function probeIndex(path: string, timeoutMs = 30_000): Promise<boolean> {
  const data = await stat(join(path, 'data.mdb')).catch(() => null)
  if (!data) return true
  const lmdbUrl = import.meta.resolve('lmdb')
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', PROBE, lmdbUrl, path], {
      stdio: 'ignore',
      timeout: timeoutMs,
    })
    child.once('error', () => resolve(false))
    child.once('exit', (code) => resolve(code === 0))
  })
}
