// `npm test` and `npm run test:fast` (test/run-passes.ts): a failing step does not stop the ones
// after it (the S3 and subpaths passes run even when the first pass fails), the exit status says
// whether any failed, and the summary names each failed step. The steps here are tiny node
// processes; the real passes are checked by the files and environment they are given, the unit
// tier by what its files do, and the backend by the one module that reads its variable.
import assert from 'node:assert/strict'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import {
  FAST_CONCURRENCY,
  fastTestSteps,
  npmTestSteps,
  runSteps,
  testFiles,
  UNIT_FILES,
  type Step,
} from './run-passes.js'
import { BACKEND_ENV, backendFrom } from './helpers/backend-name.js'
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

  it('is what npm test runs: typecheck, every file, then the API suite on s3, subpaths and memory', () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>
    }
    assert.equal(pkg.scripts.test, 'node --import tsx test/run-passes.ts')
    const steps = npmTestSteps(REPO_ROOT)
    assert.deepEqual(
      steps.map((s) => [s.name, s.env]),
      [
        ['typecheck', undefined],
        ['fs', { [BACKEND_ENV]: 'fs' }],
        ['s3', { [BACKEND_ENV]: 's3' }],
        ['subpaths', { [BACKEND_ENV]: 'subpaths' }],
        ['memory', { [BACKEND_ENV]: 'memory' }],
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
    for (const step of steps.slice(2)) assert.deepEqual(step.args.slice(4), api)
  })

  it('is what npm run test:fast runs: the unit files on fs, then the API suite in memory', () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>
    }
    assert.equal(pkg.scripts['test:fast'], 'node --import tsx test/run-passes.ts fast')
    const steps = fastTestSteps(REPO_ROOT)
    assert.deepEqual(
      steps.map((s) => [s.name, s.env]),
      [
        ['unit', { [BACKEND_ENV]: 'fs' }],
        ['memory', { [BACKEND_ENV]: 'memory' }],
      ],
    )
    const { api, unit } = testFiles(join(REPO_ROOT, 'test'))
    const head = ['--import', 'tsx', '--test', `--test-concurrency=${FAST_CONCURRENCY}`]
    for (const step of steps) assert.deepEqual(step.args.slice(0, 4), head)
    assert.deepEqual(steps[0].args.slice(5), unit)
    assert.deepEqual(steps[1].args.slice(5), api)
    assert.ok(unit.includes('test/memory-driver.test.ts'), 'the memory driver is in the fast tier')
  })

  it('lists as unit only files that exist, are not the API suite, and start no process, tool or s3rver', () => {
    const { all, api } = testFiles(join(REPO_ROOT, 'test'))
    // What a unit file may not do, by the names it would do it with.
    const outside =
      /\b(childServer|spawn|spawnSync|execFile|execFileSync|execSync|fork|haveCommand|startS3rver|sharedS3rver|startDynalite|mountTmpfs|mountExfat)\b|skopeo|containerd|docker-registry|umoci/
    assert.equal(new Set(UNIT_FILES).size, UNIT_FILES.length, 'no file listed twice')
    for (const file of UNIT_FILES) {
      assert.ok(all.includes(file), `${file} is a test file`)
      assert.ok(
        !api.includes(file),
        `${file} is in the API suite, which the fast tier runs in memory`,
      )
      const found = outside.exec(readFileSync(join(REPO_ROOT, file), 'utf8'))
      assert.equal(found, null, `${file} uses ${found?.[0]}: it is not a unit test`)
    }
  })

  it('reads the backend in one place, and refuses a backend it does not know', () => {
    assert.equal(backendFrom({}), 'fs')
    assert.equal(backendFrom({ [BACKEND_ENV]: 'memory' }), 'memory')
    assert.throws(() => backendFrom({ [BACKEND_ENV]: 'S3 ' }), /names no test backend/)
    const readers: string[] = []
    const walk = (dir: string) => {
      for (const e of readdirSync(join(REPO_ROOT, dir), { withFileTypes: true })) {
        const rel = `${dir}/${e.name}`
        if (e.isDirectory()) walk(rel)
        else if (
          rel.endsWith('.ts') &&
          readFileSync(join(REPO_ROOT, rel), 'utf8').includes(BACKEND_ENV)
        )
          readers.push(rel)
      }
    }
    for (const dir of ['src', 'test', 'bench']) walk(dir)
    assert.deepEqual(readers, ['test/helpers/backend-name.ts'])
  })
})
