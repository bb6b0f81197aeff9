// A mirror pass in its own process, for the kill -9 test: argv[2] is JSON {root, url, prefix,
// holdAfter}. The pacer lets `holdAfter` bytes through, prints "hold" and then never lets another
// byte pass, so the parent kills the process mid-blob at a point set by bytes, not by time.
import { runMirrorPass } from '../../src/upstream/mirror/index.js'
import { inMemoryRegistry } from './harness.js'
import { mirrorDeps, upstreamSettings } from './mirror-fixture.js'

const { root, url, prefix, holdAfter } = JSON.parse(process.argv[2]) as {
  root: string
  url: string
  prefix: string
  holdAfter: number
}
const reg = await inMemoryRegistry({ root })
const settings = upstreamSettings(url, [{ prefix }])
let passed = 0
const pacer = {
  async take(n: number) {
    if (passed + n > holdAfter) {
      process.stdout.write('hold\n')
      await new Promise(() => {})
    }
    passed += n
  },
}
const report = await runMirrorPass(mirrorDeps(reg.storage.registry, settings, pacer), settings)
process.stdout.write(`${JSON.stringify(report)}\n`)
await reg.close()
process.exit(0)
