// Profile helper for the real-client section (issue 17): a compiled Outpost with --cpu-prof (as
// profile-push.ts), one `skopeo copy` of the cached gzip layout (gzip-layout.ts) to it and one
// back into a dir:, each with the server's CPU seconds; the .cpuprofile lands in PROFILE_DIR.
// With STRACE=1 the server runs under `strace -f -c` instead (attached with -p for the transfers; counts in STRACE_OUT).
// PROFILE_CLIENT=32k or 1m pushes with the synthetic client in writes of that size instead
// (monolithic, real-clients.ts), then pulls with it hashing, so the profiles compare.
//   npm run build && PROFILE_DIR=/tmp/prof node --import tsx bench/profile-skopeo.ts [MIB]
import { execFileSync, spawn } from 'node:child_process'
import { setTimeout as sleep } from 'node:timers/promises'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { RegistryClient } from './client.js'
import { gzipLayout } from './gzip-layout.js'
import { blobDigest, MIB } from './payload.js'
import { hashingPull, monolithic } from './real-clients.js'
import { cpuSeconds } from './process-stats.js'
import { startOutpost, startProfiled } from './targets.js'

const sizeMiB = Number(process.argv[2] ?? 512)
const layout = await gzipLayout(17, sizeMiB)
const strace = process.env.STRACE === '1'
const straceOut = process.env.STRACE_OUT ?? '/tmp/outpost-strace.txt'
const { target, dir } = strace
  ? { target: await startOutpost(process.cwd(), {}, { shipped: true }), dir: '(strace)' }
  : await startProfiled(process.cwd())
const pid = target.pid
// Attached for the transfers only (start-up's syscalls left out); SIGINT makes it print.
const tracer = strace
  ? spawn('strace', ['-f', '-c', '-o', straceOut, '-p', String(pid)], { stdio: 'ignore' })
  : undefined
if (tracer) await sleep(1000)
const host = target.url.host
const pulled = mkdtempSync(join(tmpdir(), 'outpost-profile-pull-'))
const synthetic = process.env.PROFILE_CLIENT
if (synthetic === '32k' || synthetic === '1m') {
  const client = new RegistryClient(target.url, 1)
  const write = synthetic === '32k' ? 32 * 1024 : MIB
  const runs = [
    ['push', monolithic(1801, blobDigest(1801, sizeMiB), sizeMiB, write)],
    ['pull', hashingPull(blobDigest(1801, sizeMiB), sizeMiB)],
  ] as const
  for (const [name, run] of runs) {
    const cpu = cpuSeconds(pid)
    const { bytes, seconds } = await run(client, target)
    const used = (cpuSeconds(pid) - cpu).toFixed(2)
    console.log(
      `${synthetic} ${name}: ${(bytes / 1e6 / seconds).toFixed(1)} MB/s, server CPU ${used} s`,
    )
  }
  client.close()
}
const copies = synthetic
  ? []
  : [
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
if (tracer) {
  tracer.kill('SIGINT')
  await new Promise((resolve) => tracer.once('exit', resolve))
}
await target.stop()
if (strace) console.log(`syscall counts in ${straceOut}`)
console.log(`profile in ${dir}`)
