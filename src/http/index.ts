// Public face of the HTTP layer.
export { createApp, type AppOptions, type AppState } from './app.js'
