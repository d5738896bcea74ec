import { defineConfig } from "vite";

// Static files for S3/CloudFront (and the local stack's HTTP front): external JS and CSS only, so a
// strict CSP (script-src 'self', style-src 'self', no inline) holds. No dev server is needed: the
// local stack serves console/dist.
export default defineConfig({
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    assetsInlineLimit: 0, // never a data: URL inlined into CSS or JS
    modulePreload: { polyfill: false },
    sourcemap: false,
    target: "es2022",
  },
});
