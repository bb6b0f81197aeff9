// The edge example (packaging/deb/examples/edge-mirror.json, shipped in the .deb's examples and
// shown in docs/upstream.md "At the edge with containerd and k3s"): `outpost verify` accepts it, it
// passes every rule the periodic mirror runs under and resolves to what its comments say. The
// page's snippet is the file's sync section.
import assert from 'node:assert/strict'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { parseConfig } from '../src/config/index.js'
import { parseJsonc } from '../src/config/jsonc.js'
import { registryProblems, type RawRegistry } from '../src/config/sync.js'
import { REPO_ROOT, scratchDirs } from './helpers/harness.js'
import { runOutpost } from './helpers/outpost-cli.js'

const EXAMPLE = join(REPO_ROOT, 'packaging/deb/examples/edge-mirror.json')
const dir = scratchDirs()

type Raw = {
  storage: { rootDirectory: string }
  extensions: { sync: { registries: RawRegistry[] } & Record<string, unknown> }
}

async function example(): Promise<{ text: string; raw: Raw }> {
  const text = await readFile(EXAMPLE, 'utf8')
  return { text, raw: parseJsonc(text) as Raw }
}

describe('the edge example config', () => {
  it('outpost verify accepts it; it resolves to an arm64 mirror with signatures, at night, capped', async () => {
    const { text, raw } = await example()
    const registries = raw.extensions.sync.registries
    assert.equal(registries.length, 1)
    assert.deepEqual(registryProblems(registries[0]), [])
    const sync = parseConfig(text, EXAMPLE).sync!
    assert.equal(sync.maxBandwidth, 2e6)
    assert.deepEqual(sync.window, { start: 60, end: 300 })
    const [registry] = sync.registries
    assert.equal(registry.onDemand, false)
    assert.equal(registry.pollIntervalMs, 6 * 3600_000)
    assert.equal(registry.referrers, true)
    assert.deepEqual(registry.content[0].platforms, [{ os: 'linux', architecture: 'arm64' }])
    // The whole file through the CLI, as the unit's ExecReload runs it: the root moved to a
    // directory that exists here.
    const root = await dir()
    const copy = join(await dir(), 'config.json')
    await writeFile(copy, text.replace('"/var/lib/outpost"', JSON.stringify(root)))
    const verify = await runOutpost(['verify', copy])
    assert.equal(verify.code, 0, verify.stderr + verify.stdout)
  })
  it("docs/upstream.md's edge section shows the example's sync section", async () => {
    const page = await readFile(join(REPO_ROOT, 'docs/upstream.md'), 'utf8')
    const start = page.indexOf('\n## At the edge with containerd and k3s\n')
    assert.notEqual(start, -1, 'docs/upstream.md has the edge section')
    const end = page.indexOf('\n## ', start + 1)
    const section = page.slice(start, end === -1 ? undefined : end)
    const block = /```jsonc\n([\s\S]*?)```/.exec(section)?.[1]
    assert.ok(block, 'the section has a jsonc block')
    const shown = parseJsonc(`{${block}}`) as { extensions: { sync: unknown } }
    assert.deepEqual(shown.extensions.sync, (await example()).raw.extensions.sync)
  })
})
