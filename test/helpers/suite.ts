// A suite that needs something this machine may lack (a Debian tool, root, IPv6). Node 20 leaves
// a skipped describe out of the summary's "skipped" count, so a machine without the tool would
// report "skipped 0" while running none of it: without it, the suite is one skipped test that
// carries the reason instead.
import { describe, it } from 'node:test'

export function suiteNeeding(name: string, reason: string | false | undefined, fn: () => void) {
  if (reason) it(name, { skip: reason }, () => {})
  else describe(name, fn)
}
