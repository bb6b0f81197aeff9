// Dependencies point down only (docs/architecture.md §2): the rule check passes on src/,
// and fails, naming the offending import, on a copy of src/ with one deliberately wrong import.
import assert from 'node:assert/strict'
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { describe, it } from 'node:test'
import { LAYERS, moduleOf, ruleViolations } from './helpers/import-rules.js'

const SRC = resolve(import.meta.dirname, '../src')

/** A scratch copy of src/ with `line` added at the top of `file`. */
function withImport(file: string, line: string): { root: string; done: () => void } {
  const root = mkdtempSync(join(tmpdir(), 'outpost-import-rules-'))
  cpSync(SRC, root, { recursive: true })
  const path = join(root, file)
  writeFileSync(path, `${line}\n${readFileSync(path, 'utf8')}`)
  return { root, done: () => rmSync(root, { recursive: true, force: true }) }
}

describe('import rules', () => {
  it('src/ keeps them: no upward import, no driver importing a driver, no module cycle', () => {
    assert.deepEqual(ruleViolations(SRC), [])
  })

  it('every folder of src/ is on a layer, and docs/architecture.md names it', () => {
    const map = readFileSync(resolve(SRC, '../docs/architecture.md'), 'utf8')
    for (const module of LAYERS.flat()) {
      assert.ok(map.includes(`${module}/`), `docs/architecture.md does not mention ${module}/`)
    }
  })

  it('fails on an upward import, naming it', () => {
    const copy = withImport('storage/fs/fs-driver.ts', "import '../../registry/index.js'")
    try {
      const problems = ruleViolations(copy.root)
      assert.ok(
        problems.some((p) =>
          p.startsWith('upward import: src/storage/fs/fs-driver.ts imports src/registry/index.ts'),
        ),
        problems.join('\n'),
      )
    } finally {
      copy.done()
    }
  })

  it('fails on a driver package imported outside the composition root', () => {
    const copy = withImport('gc/collector.ts', "import '../storage/fs/index.js'")
    try {
      const problems = ruleViolations(copy.root)
      assert.ok(
        problems.some((p) => p.startsWith('driver imported outside server/: src/gc/collector.ts')),
        problems.join('\n'),
      )
    } finally {
      copy.done()
    }
  })

  it('fails on a driver importing another driver, and on a cycle between same-layer modules', () => {
    const copy = withImport('storage/s3/s3-driver.ts', "import '../fs/index.js'")
    const cycle = withImport('gc/collector.ts', "import type {} from '../scrub/index.js'")
    try {
      assert.ok(
        ruleViolations(copy.root).some((p) => p.startsWith('driver imports another driver')),
      )
      // scrub already imports nothing of gc; make it so, then close the loop from gc.
      const scrubFile = join(cycle.root, 'scrub/scrubber.ts')
      writeFileSync(scrubFile, `import '../gc/index.js'\n${readFileSync(scrubFile, 'utf8')}`)
      const problems = ruleViolations(cycle.root)
      assert.ok(
        problems.some((p) => p.startsWith('module cycle: ')),
        problems.join('\n'),
      )
    } finally {
      copy.done()
      cycle.done()
    }
  })

  it('names the module of a file: its top folder, or the driver folder under storage/', () => {
    assert.equal(moduleOf('registry/blob-store.ts'), 'registry')
    assert.equal(moduleOf('storage/fs/fs-driver.ts'), 'storage/fs')
    assert.equal(moduleOf('storage/driver.ts'), 'storage')
    assert.equal(moduleOf('upstream/mirror/scheduler.ts'), 'upstream')
  })
})
