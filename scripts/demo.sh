#!/usr/bin/env bash
# make demo: builds the images the demo needs with berth's own builder,
# brings up ml-ollama, ml-jupyter, dev-postgres, dev-proxy and
# dev-code-server from examples/demo.yaml, waits until each is healthy,
# and prints their status and addresses. Run it again at any time: every
# step converges. `berth -f examples/demo.yaml down` removes the
# containers and keeps the data (under /var/lib/berth-demo).
set -euo pipefail
cd "$(dirname "$0")/.."

berth=${BERTH:-./bin/berth}
cfg=examples/demo.yaml
b() { "$berth" -f "$cfg" "$@"; }

bash scripts/docker-setup.sh
# The compilers the Ollama (cgo) and code-server (node-gyp) builds need.
BERTH_NO_BROWSER=1 bash scripts/services-setup.sh

# Cold: ~10 minutes (Ollama's cgo build is ~4.5 of them); warm: seconds.
b image build ollama jupyterlab postgres-dev caddy code-server --load

# up writes the proxy's routes before it starts and loads them into the
# running proxy (Caddy's admin API) after the apply.
b up --wait --timeout 5m

echo
b status
echo
b url
echo
echo "Jupyter:      $(b jupyter url)"
echo "code-server:  password: berth -f $cfg secret show code-server-password"
echo "PostgreSQL:   berth -f $cfg psql"
echo "Ollama:       berth -f $cfg ollama list"
echo
echo "Not in the demo: ComfyUI, vLLM and LocalAI (GPU images from registries"
echo "this machine cannot reach), the chat UI and dev-ml (left out for build"
echo "time). They stay in the seed's config ('berth init')."
