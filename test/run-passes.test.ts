// `npm test` (test/run-passes.ts): a failing step does not stop the ones after it (the S3 and
// subpaths passes run even when the first pass fails), the exit status says whether any failed,
// and the summary names each failed step. The steps here are tiny node processes; the real
// passes are checked by the files and environment they are given.
import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { npmTestSteps, runSteps, testFiles, type Step } from './run-passes.js'
import { REPO_ROOT, tempDir } from './helpers/harness.js'

const node = (name: string, script: string): Step => ({
  name,
  command: process.execPath,
  args: ['-e', script],
})

describe('npm test runner', () => {
  it('runs every step after a failure, then names the failed ones', async () => {
    const dir = await tempDir()
    const mark = (name: string) =>
      `require('fs').writeFileSync(${JSON.stringify(join(dir, name))}, '')`
    const lines: string[] = []
    const { results, failed } = await runSteps(
      [
        node('first', `${mark('first')}; process.exit(3)`),
        node('second', mark('second')),
        node('third', `${mark('third')}; process.kill(process.pid, 'SIGKILL')`),
        {
          ...node('fourth', `${mark('fourth')}; if (process.env.STEP !== 'env') process.exit(1)`),
          env: { STEP: 'env' },
        },
      ],
      { cwd: dir, stdio: 'ignore', log: (line) => lines.push(line) },
    )
    for (const name of ['first', 'second', 'third', 'fourth']) {
      assert.ok(existsSync(join(dir, name)), `step ${name} ran`)
    }
    assert.deepEqual(
      results.map((r) => [r.name, r.code, r.signal]),
      [
        ['first', 3, null],
        ['second', 0, null],
        ['third', null, 'SIGKILL'],
        ['fourth', 0, null],
      ],
    )
    assert.deepEqual(failed, ['first', 'third'])
    assert.ok(lines.includes('== first: FAILED (exit 3)'), lines.join('\n'))
    assert.ok(lines.includes('== third: FAILED (SIGKILL)'), lines.join('\n'))
    assert.equal(lines.at(-1), '== failed: first, third')
  })

  it('counts a step that cannot start as failed and goes on', async () => {
    const lines: string[] = []
    const { failed } = await runSteps(
      [{ name: 'missing', command: '/nonexistent/outpost-test-binary', args: [] }, node('ok', '')],
      { cwd: REPO_ROOT, stdio: 'ignore', log: (line) => lines.push(line) },
    )
    assert.deepEqual(failed, ['missing'])
    assert.ok(lines.includes('== ok: ok'), lines.join('\n'))
  })

  it('is what npm test runs: typecheck, every file, then the API suite on s3 and subpaths', () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>
    }
    assert.equal(pkg.scripts.test, 'node --import tsx test/run-passes.ts')
    const steps = npmTestSteps(REPO_ROOT)
    assert.deepEqual(
      steps.map((s) => [s.name, s.env]),
      [
        ['typecheck', undefined],
        ['fs', undefined],
        ['s3', { OUTPOST_TEST_BACKEND: 's3' }],
        ['subpaths', { OUTPOST_TEST_BACKEND: 'subpaths' }],
      ],
    )
    assert.deepEqual(steps[0].args.slice(-2), ['-p', 'tsconfig.check.json'])
    const { all, api } = testFiles(join(REPO_ROOT, 'test'))
    assert.ok(all.includes('test/run-passes.test.ts') && all.includes('test/crash.test.ts'))
    assert.ok(!all.includes('test/run-passes.ts'), 'the runner is not a test file')
    assert.ok(api.includes('test/api-blobs.test.ts') && api.includes('test/bad-input.test.ts'))
    assert.ok(api.includes('test/push-pull.test.ts') && !api.includes('test/crash.test.ts'))
    for (const step of steps.slice(1)) {
      assert.deepEqual(step.args.slice(0, 4), ['--import', 'tsx', '--test', '--test-reporter=spec'])
    }
    assert.deepEqual(steps[1].args.slice(4), all)
    assert.deepEqual(steps[2].args.slice(4), api)
    assert.deepEqual(steps[3].args.slice(4), api)
  })
})
