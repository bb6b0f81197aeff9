// Every key path a configuration file may hold, read off the zod schema (src/config/schema.ts and
// what it composes), for the test that holds docs/configuration.md to it. zod v4 keeps an
// object's fields in `shape` and wraps them (optional, default, nullable, a transform's pipe,
// union); `.refine` and `.superRefine` keep the object itself.
import { z } from 'zod'

/** A path whose value takes the same keys as another path's: documented once, as one item. */
export interface SameKeys {
  path: string
  as: string
  /** keys of `as` that `path` does not take */
  except?: string[]
}

export interface ConfigKeys {
  /** the paths that must each be documented: leaves, and the paths of `same` */
  leaves: Set<string>
  /** every path, parents included: a documented key must be one of these */
  all: Set<string>
  /** the object schema at each path that holds one, to check `same` */
  objects: Map<string, z.ZodObject>
}

type Def = { type: string; [key: string]: unknown }
const defOf = (schema: z.ZodType): Def => (schema as unknown as { _zod: { def: Def } })._zod.def

/** The schemas a value at this point may be, wrappers taken off. */
function unwrap(schema: z.ZodType): z.ZodType[] {
  const def = defOf(schema)
  switch (def.type) {
    case 'optional':
    case 'nullable':
    case 'default':
    case 'prefault':
    case 'catch':
    case 'readonly':
    case 'nonoptional':
      return unwrap(def.innerType as z.ZodType)
    case 'pipe':
      // What a file holds is the input side.
      return unwrap(def.in as z.ZodType)
    case 'union':
      return (def.options as z.ZodType[]).flatMap(unwrap)
    case 'lazy':
      return unwrap((def.getter as () => z.ZodType)())
    default:
      return [schema]
  }
}

/**
 * Walks `schema`: an object's keys are `a.b`, an array's elements `a[]` (`a[].b`), a record's
 * values `a.*`. A path named in `same` is a leaf: its keys are those of another path.
 */
export function configKeys(schema: z.ZodType, same: readonly SameKeys[] = []): ConfigKeys {
  const keys: ConfigKeys = { leaves: new Set(), all: new Set(), objects: new Map() }
  const stops = new Set(same.map((s) => s.path))
  const walk = (node: z.ZodType, path: string): void => {
    if (path) keys.all.add(path)
    let inner = false
    for (const variant of unwrap(node)) {
      const def = defOf(variant)
      if (def.type === 'object') {
        keys.objects.set(path, variant as z.ZodObject)
        if (stops.has(path)) continue
        inner = true
        for (const [key, field] of Object.entries((variant as z.ZodObject).shape))
          walk(field as z.ZodType, path ? `${path}.${key}` : key)
      } else if (def.type === 'array') {
        const element = def.element as z.ZodType
        const structured = unwrap(element).some((e) =>
          ['object', 'array', 'record'].includes(defOf(e).type),
        )
        if (structured && !stops.has(path)) {
          inner = true
          walk(element, `${path}[]`)
        }
      } else if (def.type === 'record' && !stops.has(path)) {
        inner = true
        walk(def.valueType as z.ZodType, `${path}.*`)
      }
    }
    if (!inner && path) keys.leaves.add(path)
  }
  walk(schema, '')
  return keys
}

/** Why `s.path` does not take exactly the keys of `s.as` (the same field schemas), if it does not. */
export function sameKeysProblem(keys: ConfigKeys, s: SameKeys): string | undefined {
  const [a, b] = [keys.objects.get(s.path), keys.objects.get(s.as)]
  if (!a || !b) return `${!a ? s.path : s.as} holds no object in the schema`
  const except = new Set(s.except ?? [])
  const want = Object.keys(b.shape).filter((k) => !except.has(k))
  const differ = [
    ...want.filter((k) => a.shape[k] !== b.shape[k]),
    ...Object.keys(a.shape).filter((k) => !want.includes(k)),
  ]
  return differ.length
    ? `${s.path} no longer takes the keys of ${s.as}: ${differ.join(', ')} differ`
    : undefined
}
