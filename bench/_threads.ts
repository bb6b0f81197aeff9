import { readFileSync, readdirSync } from 'node:fs'
import { RegistryClient } from './client.js'
import { smallImage } from './payload.js'
import { startOutpost } from './targets.js'
import { pushImage } from './workloads.js'
const count = Number(process.argv[2] ?? 200)
const target = await startOutpost(process.cwd(), {}, { shipped: true })
const client = new RegistryClient(target.url, 8)
await pushImage(client, 'bench/small', smallImage(5000), 'warm')
const threads = () => Object.fromEntries(readdirSync(`/proc/${target.pid}/task`).map((t) => {
  const st = readFileSync(`/proc/${target.pid}/task/${t}/stat`, 'utf8')
  const name = st.slice(st.indexOf('(') + 1, st.lastIndexOf(')'))
  const f = st.slice(st.lastIndexOf(')') + 2).split(' ')
  return [`${t} ${name}`, [Number(f[11]), Number(f[12])]]
}))
const before = threads()
const images = Array.from({ length: count }, (_, n) => smallImage(n + 1000))
let next = 0
const t0 = performance.now()
await Promise.all(Array.from({ length: 8 }, async () => { for (let n = next++; n < count; n = next++) await pushImage(client, 'bench/small', images[n], `v${n}`) }))
const secs = (performance.now() - t0) / 1000
const after = threads()
let tu = 0, ts = 0
for (const [k, [u, s]] of Object.entries(after)) { const [u0, s0] = before[k] ?? [0, 0]; const du = (u - u0) * 10 / count, ds = (s - s0) * 10 / count; tu += du; ts += ds; if (du + ds > 0.05) console.log(k.padEnd(30), 'user', du.toFixed(2), 'sys', ds.toFixed(2), 'ms/image') }
console.log('total user', tu.toFixed(2), 'sys', ts.toFixed(2), 'ms/image;', (count / secs).toFixed(1), 'images/s')
client.close(); await target.stop()
