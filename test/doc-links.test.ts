// Every relative link in README.md and docs/*.md resolves: to a file of the repository, and, with
// a #fragment, to a heading of that file (GitHub's anchors: lower case, punctuation dropped,
// spaces to hyphens, "-1", "-2" for repeats). Links with a scheme (https:, mailto:) are not
// followed.
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'
import { dirname, join, relative } from 'node:path'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('..', import.meta.url))

/** GitHub's anchor for each heading of a markdown file, outside code blocks. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>()
  const out = new Set<string>()
  let fenced = false
  for (const line of markdown.split('\n')) {
    if (/^\s*```/.test(line)) fenced = !fenced
    const heading = !fenced && /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)
    if (!heading) continue
    const base = heading[1]
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-')
    const n = seen.get(base) ?? 0
    seen.set(base, n + 1)
    out.add(n === 0 ? base : `${base}-${n}`)
  }
  return out
}

/** The inline links `[text](target)` of a markdown file, outside code blocks and code spans. */
function links(markdown: string): string[] {
  const out: string[] = []
  let fenced = false
  for (const line of markdown.split('\n')) {
    if (/^\s*```/.test(line)) fenced = !fenced
    if (fenced) continue
    const prose = line.replace(/`[^`]*`/g, '')
    for (const m of prose.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) out.push(m[1])
  }
  return out
}

async function pages(): Promise<string[]> {
  const docs = (await readdir(join(ROOT, 'docs'))).filter((f) => f.endsWith('.md'))
  return ['README.md', ...docs.map((f) => `docs/${f}`)]
}

/** What is wrong with each relative link of `page` (a path from the repository root). */
async function brokenLinks(page: string): Promise<string[]> {
  const text = await readFile(join(ROOT, page), 'utf8')
  const broken: string[] = []
  for (const link of links(text)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(link)) continue
    const [path, fragment] = link.split('#') as [string, string | undefined]
    const target = path === '' ? page : relative(ROOT, join(ROOT, dirname(page), path))
    if (!existsSync(join(ROOT, target))) {
      broken.push(`${page}: ${link} (no file ${target})`)
      continue
    }
    if (fragment === undefined || !target.endsWith('.md')) continue
    if (!anchors(await readFile(join(ROOT, target), 'utf8')).has(fragment))
      broken.push(`${page}: ${link} (no heading #${fragment} in ${target})`)
  }
  return broken
}

describe('links in README.md and docs/', () => {
  it('every relative link reaches a file, and a heading where it names one', async () => {
    const broken = (await Promise.all((await pages()).map(brokenLinks))).flat()
    assert.deepEqual(broken, [])
  })

  it('the README links into docs/ and stays a front door (under 25,000 bytes)', async () => {
    const readme = await readFile(join(ROOT, 'README.md'))
    assert.ok(readme.length < 25_000, `README.md is ${readme.length} bytes`)
    const targets = links(readme.toString()).filter((l) => l.startsWith('docs/'))
    assert.ok(targets.length >= 10, targets.join(' '))
  })

  it('reads anchors as GitHub makes them, and skips code', () => {
    const md =
      '# A `b.c` (d)\n## A b.c d\n```\n# not\n[x](nowhere.md)\n```\n[y](z.md#q) `[w](v.md)`'
    assert.deepEqual([...anchors(md)], ['a-bc-d', 'a-bc-d-1'])
    assert.deepEqual(links(md), ['z.md#q'])
  })
})
