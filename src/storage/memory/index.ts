// Public face of the in-memory driver.
export { MemoryDriver, type MemoryDriverOptions } from './memory-driver.js'
