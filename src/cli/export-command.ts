// `outpost export REF... -o FILE|DIR [--format oci-archive|docker-archive|oci-dir]
// [--platform OS/ARCH[/VARIANT]] [--config FILE]`: images out of the registry for an air-gapped
// site. Reads the storage directly when no server runs, through the running server otherwise.
import { parseArgs } from 'node:util'
import {
  EXPORT_FORMATS,
  exportImages,
  type ExportedImage,
  type ExportFormat,
} from '../archive/index.js'
import { EXPORT_HELP } from './help.js'
import { cliCommand, configFrom, withAccess, type CommandIo } from './import-command.js'
import { UsageError } from './offline.js'
import { createProgress } from './progress.js'

export async function runExportCommand(args: string[], io: CommandIo): Promise<ExportedImage[]> {
  let parsed
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        output: { type: 'string', short: 'o' },
        format: { type: 'string' },
        platform: { type: 'string' },
        config: { type: 'string' },
      },
    })
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  const { positionals: refs, values } = parsed
  if (refs.length === 0)
    throw new UsageError('export needs at least one REF (repo:tag or repo@digest)')
  if (!values.output) throw new UsageError('export needs -o FILE (or DIR for --format oci-dir)')
  const format = (values.format ?? 'oci-archive') as ExportFormat
  if (!EXPORT_FORMATS.includes(format)) {
    throw new UsageError(`--format must be one of ${EXPORT_FORMATS.join(', ')}`)
  }
  if (values.platform && format !== 'docker-archive') {
    throw new UsageError(
      '--platform applies to --format docker-archive only (OCI formats keep every platform)',
    )
  }
  const config = await configFrom(values.config)
  const progress = createProgress(io.progress)
  return withAccess(config, 'export', async (access) => {
    try {
      const exported = await exportImages(refs, {
        access,
        format,
        output: values.output!,
        platform: values.platform,
        onProgress: (p) => progress.update(p.phase, p.done, p.total),
      })
      progress.end()
      for (const e of exported) {
        const platform = e.platform ? ` (platform ${e.platform})` : ''
        io.out(
          `exported ${e.ref} ${e.digest}${platform} to ${values.output} as ${format} (from ${access.where})`,
        )
      }
      return exported
    } catch (err) {
      progress.end()
      throw err
    }
  })
}

export const exportCommand = (args: string[]) => cliCommand(runExportCommand, EXPORT_HELP, args)
