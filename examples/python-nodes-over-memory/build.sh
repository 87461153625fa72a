#!/usr/bin/env bash
# Builds nodes-over-memory.wasm with componentize-py (pip install componentize-py).
# --stub-wasi: the component imports only the proxmcp contract, no WASI.
set -euo pipefail
cd "$(dirname "$0")"
WIT="${PROXMCP_WIT:-../../wit}"
OUT="${1:-.}"
componentize-py -d "$WIT" -w plugin componentize app --stub-wasi -o "$OUT/nodes-over-memory.wasm"
# The sidecar manifest goes next to the .wasm.
if [ "$(cd "$OUT" && pwd)" != "$(pwd)" ]; then cp nodes-over-memory.proxmcp.json "$OUT/"; fi
echo "built $OUT/nodes-over-memory.wasm"
