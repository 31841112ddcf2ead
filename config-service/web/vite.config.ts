import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// `npm run dev` talks to a config service on 127.0.0.1:8790 (override with PUSHAGENT_API).
// `base: './'`: asset URLs relative to the <base href> the service writes into index.html, so
// one build serves any `base_path` (see src/base.ts).
export default defineConfig({
  base: './',
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true, chunkSizeWarningLimit: 1500 },
  server: {
    proxy: {
      '/api': process.env.PUSHAGENT_API ?? 'http://127.0.0.1:8790',
    },
  },
});
