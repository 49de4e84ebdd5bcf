#!/usr/bin/env bash
# The README's main command: set up, then run the end-to-end demo.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/bootstrap.sh"
exec "$root/.venv/bin/baoling" demo "$@"
