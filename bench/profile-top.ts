// Summarise a V8 .cpuprofile (from --cpu-prof): self time per function, the top N, with each
// one's file and line, so a profile's story fits a table in docs/performance.md.
//   node --import tsx bench/profile-top.ts /tmp/prof/CPU.*.cpuprofile [N]
import { readFileSync } from 'node:fs'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
}
interface Profile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
}

const [file, count = '20'] = process.argv.slice(2)
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile
const byId = new Map(profile.nodes.map((n) => [n.id, n]))
const self = new Map<string, number>()
let total = 0
profile.samples.forEach((id, i) => {
  const { functionName, url, lineNumber } = byId.get(id)!.callFrame
  const where = url ? `${url.replace(/^.*\/(node_modules|dist)\//, '$1/')}:${lineNumber + 1}` : ''
  const key = `${functionName || '(anonymous)'} ${where}`.trim()
  const ms = (profile.timeDeltas[i] ?? 0) / 1000
  self.set(key, (self.get(key) ?? 0) + ms)
  total += ms
})
const idle = self.get('(idle)') ?? 0
console.log(`${(total / 1000).toFixed(2)} s sampled, ${((total - idle) / 1000).toFixed(2)} s busy`)
for (const [key, ms] of [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(count))) {
  console.log(
    `${ms.toFixed(0).padStart(7)} ms ${((100 * ms) / (total - idle || 1)).toFixed(1).padStart(5)}%  ${key}`,
  )
}
