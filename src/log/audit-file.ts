// zot's log.audit: audit lines appended to a file of their own, whatever log.level is, so the
// journal can stay quiet while every push and delete is still recorded. One JSON object per
// line, written synchronously as pino writes to a file: a line is handed to the kernel before
// the next request is logged, and nothing is left in a buffer when the process exits.
import { closeSync, openSync, writeSync } from 'node:fs'

export interface AuditFile {
  write(line: string): void
  close(): void
}

/**
 * Open `path` for appending (created with mode 0640: audit lines name users). Throws when it
 * cannot be opened, so a wrong path stops the start instead of losing lines. A line that cannot
 * be written goes to `fallback` (the main log), and the first failure of a run is reported.
 */
export function openAuditFile(
  path: string,
  fallback: (line: string) => void,
  reportFailure: (err: Error) => void,
): AuditFile {
  const fd = openSync(path, 'a', 0o640)
  let failing = false
  return {
    write(line) {
      try {
        const bytes = Buffer.from(line)
        for (let at = 0; at < bytes.length;) at += writeSync(fd, bytes, at)
        failing = false
      } catch (err) {
        if (!failing) reportFailure(err as Error)
        failing = true
        fallback(line)
      }
    },
    close: () => closeSync(fd),
  }
}
