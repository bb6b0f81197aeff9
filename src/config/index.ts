// Public face of configuration.
export {
  ConfigError,
  defaultConfig,
  loadConfig,
  parseConfig,
  type OutpostConfig,
  type ServeOverrides,
  type StoreSettings,
} from './load.js'
export { parseDuration } from './duration.js'
export * from './storage-settings.js'
export * from './maintenance.js'
export * from './units.js'
