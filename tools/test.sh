#!/usr/bin/env bash
# Runs every test of the workspace (the README's test command) and ends with one line that sums
# them up ("N passed, N failed"); what tests print (the corpus figures and disagreements) is
# shown. The tests need Rust and the shared corpus beside the checkout
# (../shared/corpus); nothing else to install yet.
set -euo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace --locked -- --show-output 2>&1 | tee "$log" || status=$?
sum() { grep -Eo "[0-9]+ $1" "$log" | awk '{s += $1} END {print s + 0}'; }
echo "$(sum passed) passed, $(sum failed) failed"
exit "$status"
