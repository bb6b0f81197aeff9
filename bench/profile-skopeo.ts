// Profile helper for the real-client section (issue 17): a compiled Outpost with --cpu-prof (as
// profile-push.ts), one `skopeo copy` of the cached gzip layout (gzip-layout.ts) to it and one
// back into a dir:, each with the server's CPU seconds; the .cpuprofile lands in PROFILE_DIR.
// With STRACE=1 the server runs under `strace -f -c` instead (syscall counts on its stderr).
//   npm run build && PROFILE_DIR=/tmp/prof node --import tsx bench/profile-skopeo.ts [MIB]
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipLayout } from './gzip-layout.js'
import { cpuSeconds } from './process-stats.js'
import { startOutpost, startProfiled } from './targets.js'

const sizeMiB = Number(process.argv[2] ?? 512)
const layout = await gzipLayout(17, sizeMiB)
const strace = process.env.STRACE === '1'
const wrapper = ['strace', '-f', '-c', '-o', '/dev/stderr']
const { target, dir } = strace
  ? { target: await startOutpost(process.cwd(), {}, { shipped: true, wrapper }), dir: '(strace)' }
  : await startProfiled(process.cwd())
const pid = strace
  ? Number(execFileSync('pgrep', ['-P', String(target.pid)]).toString())
  : target.pid
const host = target.url.host
const pulled = mkdtempSync(join(tmpdir(), 'outpost-profile-pull-'))
const copies = [
  ['push', `oci:${layout.dir}:v1`, `docker://${host}/bench/real:v1`],
  ['pull', `docker://${host}/bench/real:v1`, `dir:${pulled}`],
]
for (const [name, from, to] of copies) {
  const cpu = cpuSeconds(pid)
  const began = performance.now()
  const tls = name === 'push' ? '--dest-tls-verify=false' : '--src-tls-verify=false'
  execFileSync('skopeo', ['copy', '--quiet', '--preserve-digests', tls, from, to])
  const seconds = (performance.now() - began) / 1000
  const mb = layout.layerBytes / 1e6 / seconds
  console.log(
    `skopeo ${name}: ${mb.toFixed(1)} MB/s, server CPU ${(cpuSeconds(pid) - cpu).toFixed(2)} s`,
  )
}
rmSync(pulled, { recursive: true, force: true })
await target.stop()
if (strace) console.log(target.output())
console.log(`profile in ${dir}`)
