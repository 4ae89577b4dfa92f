#!/usr/bin/env bash
# Runs every test of the workspace (the README's test command) and ends with one line that sums
# them up ("N passed, N failed"); what tests print (the corpus figures and disagreements) is
# shown. Then every fuzz target runs briefly (tools/fuzz.sh all 10: about 3 minutes, plus the
# targets' first build); a crash fails the script. The tests need Rust, the shared corpus beside
# the checkout (../shared/corpus) and a Kafka-protocol broker, `tansu`, which this script
# installs with cargo when it is missing (about 12 minutes on 2 cores, once). The Kafka tests
# start their own brokers on loopback ports.
set -euo pipefail
cd "$(dirname "$0")/.."
TANSU_VERSION=0.6.0
export PATH="$HOME/.cargo/bin:$PATH"
# librdkafka (built from source by the rdkafka crate) needs a C toolchain, OpenSSL and zlib;
# libFuzzer (the fuzz targets) a C++ compiler.
missing=()
for pkg in make gcc g++ libssl-dev pkg-config zlib1g-dev; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing ${missing[*]} (librdkafka's build)"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq "${missing[@]}"
fi
if ! command -v tansu >/dev/null; then
  echo "installing tansu $TANSU_VERSION (the Kafka-protocol broker of the Kafka tests)"
  cargo install --locked --version "$TANSU_VERSION" --features dynostore tansu
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace --locked -- --show-output 2>&1 | tee "$log" || status=$?
# A short run of every fuzz target (tools/fuzz.sh; FUZZ_SECONDS per target, 0 skips it). A
# crash fails the script; the cargo test summary stays the last line.
fuzz_seconds=${FUZZ_SECONDS:-10}
if [ "$fuzz_seconds" != 0 ]; then
  tools/fuzz.sh all "$fuzz_seconds" || status=1
fi
sum() { grep -Eo "[0-9]+ $1" "$log" | awk '{s += $1} END {print s + 0}'; }
echo "$(sum passed) passed, $(sum failed) failed"
exit "$status"
