// Bundles frontend/src/app.js (and the Uppy stylesheets it imports) into the app's static folder.
// Run by `npm run build`; `make setup` runs it whenever the lock file or frontend/src changes.
import { build } from 'esbuild'

await build({
  entryPoints: { 'cricksy-app': 'frontend/src/app.js' },
  outdir: 'video_jobs/static/video_jobs/vendor',
  bundle: true,
  format: 'iife',
  minify: true,
  sourcemap: true,
  // Browsers of the last few years; Uppy 6 itself needs ES2022 (class private fields).
  target: ['es2022'],
  legalComments: 'linked',
  logLevel: 'info',
})
