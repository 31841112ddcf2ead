#!/bin/sh
# Builds the web console (config-service/web -> config-service/web/dist), which the service
# binary embeds (rust-embed) at its next cargo build. Needs Node.js >= 20.19 and npm
# (scripts/setup.sh checks them). Cargo itself never runs npm.
set -eu
cd "$(dirname "$0")/../config-service/web"
node -e 'const [a,b]=process.versions.node.split(".").map(Number); if (a<20||(a===20&&b<19)) { console.error("build-web.sh: Node.js >= 20.19 is needed (Vite 8), found "+process.version); process.exit(1) }'
npm ci --no-audit --no-fund
npm run build
echo "console built: $(pwd)/dist"
