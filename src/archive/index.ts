// Public face of the archive module: importing oci-archive, docker-archive and OCI layout
// directories into a registry, and exporting images in those formats, offline (LocalAccess over
// the stores this process owns) or through a running server (HttpAccess).
export { ArchiveError, directorySource, tarSource, type EntrySource } from './entries.js'
export { importArchive, type ImportedImage, type ImportProgress } from './importer.js'
export {
  EXPORT_FORMATS,
  exportImages,
  type ExportedImage,
  type ExportFormat,
  type ExportProgress,
} from './exporter.js'
export { parseImageName, type Target } from './names.js'
export { HttpAccess, HttpAccessError } from './http-access.js'
export { LocalAccess, type RegistryAccess } from './registry-access.js'
