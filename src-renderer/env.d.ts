// Vite's client types: `?worker&url` imports for the audio worklets.
/// <reference types="vite/client" />
