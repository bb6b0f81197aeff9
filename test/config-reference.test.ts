// docs/configuration.md is the configuration reference's one source; this holds it to the zod
// schema (src/config/schema.ts): every key a file may hold is documented, and no documented key is
// unknown to the schema. The convention it parses: each key is a list item that starts with its
// dotted path in backticks (`a.b`, `a.list[].c`, `a.map.*.d`, as test/helpers/config-keys.ts walks
// them); several paths, comma-separated, may share an item.
// Prettier pads a markdown table's every row to its widest cell, which is why this is a list.
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { describe, it } from 'node:test'
import { configSchema } from '../src/config/schema.js'
import { configKeys, sameKeysProblem, type SameKeys } from './helpers/config-keys.js'

const REFERENCE = new URL('../docs/configuration.md', import.meta.url)

// Values that take another path's keys: documented as one item that says so, not key by key.
const SAME: SameKeys[] = [
  { path: 'storage.subPaths.*', as: 'storage', except: ['subPaths'] },
  { path: 'uplink.targets.*', as: 'storage.storageDriver' },
]

const KEY = /^[A-Za-z][\w]*(?:\[\]|\.\*|\.[A-Za-z][\w]*)*$/

/**
 * The keys the reference documents, and the key items it could not read. A key item is a list
 * item whose text starts with a backtick: one or more key paths in backticks, comma-separated,
 * then " (" (the default) or ":". The item may be wrapped over indented lines.
 */
function documentedKeys(markdown: string): { keys: string[]; malformed: string[] } {
  const keys: string[] = []
  const malformed: string[] = []
  // A list item goes on over the indented lines that follow it.
  const items = markdown.split(/\n(?! {2}\S)/).map((item) => item.replace(/\n {2}/g, ' '))
  for (const line of items) {
    if (!line.startsWith('- `')) continue
    const names = /^- (`[^`]+`(?:, `[^`]+`)*)(?: \(|:)/.exec(line)?.[1].split(', ')
    const paths = names?.map((n) => n.slice(1, -1))
    if (paths?.every((p) => KEY.test(p))) keys.push(...paths)
    else malformed.push(line.slice(0, 120))
  }
  return { keys, malformed }
}

/** Schema keys the reference leaves out, and documented keys the schema does not have. */
function referenceProblems(
  schema: { leaves: Set<string>; all: Set<string> },
  documented: string[],
): { undocumented: string[]; unknown: string[] } {
  const seen = new Set(documented)
  return {
    undocumented: [...schema.leaves].filter((k) => !seen.has(k)),
    unknown: [...seen].filter((k) => !schema.all.has(k)),
  }
}

describe('the configuration reference (docs/configuration.md)', () => {
  const schema = configKeys(configSchema, SAME)

  it('documents every key of the schema and no key the schema does not have', async () => {
    const { keys, malformed } = documentedKeys(await readFile(REFERENCE, 'utf8'))
    assert.deepEqual(malformed, [], 'list items that start with a backtick but name no key')
    const { undocumented, unknown } = referenceProblems(schema, keys)
    assert.deepEqual(undocumented, [], `schema keys missing from docs/configuration.md`)
    assert.deepEqual(unknown, [], `keys in docs/configuration.md that the schema does not have`)
    const twice = keys.filter((k, i) => keys.indexOf(k) !== i)
    assert.deepEqual(twice, [], 'keys documented in more than one item')
  })

  it("documents the values that take another key's keys as that key (one item each)", () => {
    for (const s of SAME) assert.equal(sameKeysProblem(schema, s), undefined)
  })

  it('finds a left-out key, an unknown key and a malformed item', () => {
    const markdown = [
      '- `http.address`, `http.port` (default: `127.0.0.1`, `5000`): where it listens',
      '- `http.adress`: misspelt',
      '- `log.level`, `log.audit`, `log.output`,',
      '  `log.nope` (default: none): an item wrapped over two lines',
      '- `http.realm` is the realm',
      '- Other items are not read: `NOT_A_KEY`',
      '| `NOT_A_KEY` | nor tables |',
    ].join('\n')
    const { keys, malformed } = documentedKeys(markdown)
    assert.deepEqual(keys, [
      'http.address',
      'http.port',
      'http.adress',
      'log.level',
      'log.audit',
      'log.output',
      'log.nope',
    ])
    assert.equal(malformed.length, 1)
    const { undocumented, unknown } = referenceProblems(schema, keys)
    assert.ok(undocumented.includes('http.realm'))
    assert.ok(undocumented.includes('storage.gcInterval'))
    assert.ok(!undocumented.includes('http.port'))
    assert.deepEqual(unknown, ['http.adress', 'log.nope'])
  })

  it('walks every kind of key: nested, in arrays, in maps, and the other-key items', () => {
    for (const key of [
      'storage.gcInterval',
      'storage.storageDriver.region',
      'http.auth.htpasswd.path',
      'extensions.sync.registries[].urls',
      'extensions.sync.registries[].content[].tags.semver',
      'http.accessControl.repositories.*.policies[].users',
      'storage.subPaths.*',
      'uplink.targets.*',
    ])
      assert.ok(schema.leaves.has(key), key)
    // Parents may be documented too, but need not be.
    assert.ok(
      schema.all.has('storage.retention.policies') && !schema.leaves.has('storage.retention'),
    )
  })
})
