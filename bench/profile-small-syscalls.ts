// System calls per small image (issue 17, "whatever else strace -c still shows"): starts a
// compiled Outpost, pushes WARM images, then attaches `strace -c -f` to the server for N images
// pushed at concurrency 8 into one repository, and prints the counts divided by N.
//   npm run build && WARM=50 COMMIT=1 node --import tsx bench/profile-small-syscalls.ts [N]
import { spawn } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { RegistryClient } from './client.js'
import { smallImage } from './payload.js'
import { startOutpost } from './targets.js'
import { forEachInParallel, pushImage } from './workloads.js'

const count = Number(process.argv[2] ?? 200)
const warm = Number(process.env.WARM ?? 50)
const commit = process.env.COMMIT === '1'
const target = await startOutpost(process.cwd(), { commit }, { shipped: true })
const client = new RegistryClient(target.url, 8)
try {
  await forEachInParallel(warm, 8, (n) =>
    pushImage(client, 'bench/warm', smallImage(n + 100_000), `w${n}`),
  )
  const out = join(tmpdir(), `outpost-strace-${process.pid}.txt`)
  const extra = (process.env.STRACE_ARGS ?? '').split(' ').filter(Boolean)
  const strace = spawn(
    'strace',
    [...(extra.length ? extra : ['-c']), '-f', '-p', String(target.pid), '-o', out],
    {
      stdio: 'ignore',
    },
  )
  await sleep(500) // strace attaches to every thread before the burst starts
  const images = Array.from({ length: count }, (_, n) => smallImage(n + 1000))
  await forEachInParallel(count, 8, (n) => pushImage(client, 'bench/small', images[n], `v${n}`))
  strace.kill('SIGINT')
  await new Promise((resolve) => strace.once('exit', resolve))
  if (extra.length) console.log(await readFile(out, 'utf8'))
  console.log(`system calls per image (${count} images, commit ${commit}):`)
  for (const line of (await readFile(out, 'utf8')).split('\n')) {
    const m = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(\d+\s+)?(\w+)$/.exec(line)
    if (m && Number(m[1]) >= count / 10) {
      console.log(`  ${m[3].padEnd(16)} ${(Number(m[1]) / count).toFixed(2)}`)
    }
  }
} finally {
  client.close()
  await target.stop()
}
