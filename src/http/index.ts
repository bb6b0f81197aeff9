// Public face of the HTTP layer.
export { createApp, type AppOptions, type AppState, type OperatorEndpoints } from './app.js'
