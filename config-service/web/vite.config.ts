import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// `npm run dev` talks to a config service on 127.0.0.1:8790 (override with PUSHAGENT_API).
export default defineConfig({
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true, chunkSizeWarningLimit: 1500 },
  server: {
    proxy: {
      '/api': process.env.PUSHAGENT_API ?? 'http://127.0.0.1:8790',
    },
  },
});
