// Public face of the budget service.
export * from './budget.js'
export { SystemSampler, type Sample, type Sampler } from './sampler.js'
