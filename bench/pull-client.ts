// A pull loop in its own process, for bench/maintenance.ts: GETs one blob over and over for the
// given seconds on a keep-alive connection, discarding the bytes, and prints MB/s.
import { Agent, get } from 'node:http'

const [url, path, secondsText] = process.argv.slice(2)
const seconds = Number(secondsText)
const agent = new Agent({ keepAlive: true, maxSockets: 1 })
const base = new URL(url)

function pullOnce(): Promise<number> {
  return new Promise((resolve, reject) => {
    get({ host: base.hostname, port: base.port, path, agent }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`GET ${path}: ${res.statusCode}`))
      let bytes = 0
      res.on('data', (chunk: Buffer) => (bytes += chunk.length))
      res.on('end', () => resolve(bytes))
      res.on('error', reject)
    }).on('error', reject)
  })
}

const began = performance.now()
let total = 0
while (performance.now() - began < seconds * 1000) total += await pullOnce()
const elapsed = (performance.now() - began) / 1000
process.stdout.write(`${total / 1e6 / elapsed}\n`)
agent.destroy()
