import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

/** `vite build --config src/web/vite.config.ts`: src/web → dist/web, served by the server at `/`. */
export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "/",
  logLevel: "warn",
  esbuild: { jsx: "automatic", jsxImportSource: "preact" },
  build: {
    outDir: fileURLToPath(new URL("../../dist/web", import.meta.url)),
    emptyOutDir: true,
    target: "es2022",
    chunkSizeWarningLimit: 200,
  },
  server: {
    // "/api/", not "/api": the prefix would also catch the dashboard's own module /api.ts.
    proxy: { "/api/": "http://127.0.0.1:8080" },
  },
});
