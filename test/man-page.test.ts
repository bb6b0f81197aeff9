// outpost(1) is rendered from the CLI's help texts (scripts/man-page.mjs), so the man page the
// .deb ships says what `outpost <command> --help` says, every command included.
import assert from 'node:assert/strict'
import { execFileSync, spawnSync } from 'node:child_process'
import { it } from 'node:test'
import * as help from '../src/cli/help.js'
// @ts-expect-error: a plain .mjs build script, without type declarations
import { renderManPage } from '../scripts/man-page.mjs'

it('carries every command help, line for line, roff-escaped', () => {
  const page: string = renderManPage(help)
  for (const [name, text] of Object.entries(help)) {
    for (const line of text.trimEnd().split('\n')) {
      const escaped = line
        .replace(/\\/g, '\\e')
        .replace(/-/g, '\\-')
        .replace(/^([.'])/, '\\&$1')
      assert.ok(page.includes(escaped), `${name}: ${JSON.stringify(line)} is in the man page`)
    }
  }
})

it('is a page man can format', (t) => {
  let groff = true
  try {
    execFileSync('groff', ['-v'], { stdio: 'ignore' })
  } catch {
    groff = false
  }
  if (!groff) return t.skip('needs groff-base')
  const run = spawnSync('groff', ['-man', '-Tutf8', '-ww', '-z'], {
    input: renderManPage(help),
    encoding: 'utf8',
  })
  assert.equal(run.status, 0)
  assert.equal(run.stderr, '', 'groff has no warning about the page')
})
