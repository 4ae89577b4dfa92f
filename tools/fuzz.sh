#!/usr/bin/env bash
# Runs pcgate's coverage-guided fuzz targets (fuzz/, cargo-fuzz and libFuzzer):
#
#   tools/fuzz.sh TARGET SECONDS [LIBFUZZER_OPTION...]   one target, e.g. tools/fuzz.sh tls 600
#   tools/fuzz.sh all SECONDS                             every target in turn, SECONDS each
#   tools/fuzz.sh list                                    the targets
#
# Options after SECONDS go to libFuzzer, e.g. -runs=10000000 (then SECONDS is only a bound) or
# -jobs=2. Installs cargo-fuzz when it is missing; builds the targets with optimisation and
# without sanitizer (`-O -s none`: the code is safe Rust, and this runs several times faster
# than with AddressSanitizer); makes the seed corpora (fuzz/corpus/TARGET, not committed) from
# the real captures in ../shared/corpus/pcaps and the fixtures. Prints one line per target
# with its executions and rate, or the crash and the file that reproduces it (in
# fuzz/artifacts/TARGET/; replay it with `fuzz/target/x86_64-unknown-linux-gnu/release/TARGET
# FILE`). Exits non-zero when a target crashed. The `record` target needs the control crate
# and with it librdkafka: FUZZ_RECORD=0 leaves it out.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
CARGO_FUZZ_VERSION=0.13.2
TARGETS=(pcap pcapng decode tunnel frag reassembly tls quic_initial quic_sealed gquic dns http
  policy catalog lists record)

usage() {
  sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

[ "$#" -ge 1 ] || usage
if [ "$1" = list ]; then
  printf '%s\n' "${TARGETS[@]}"
  exit 0
fi
[ "$#" -ge 2 ] || usage
which=$1
seconds=$2
shift 2
if [ "$which" = all ]; then
  targets=("${TARGETS[@]}")
else
  printf '%s\n' "${TARGETS[@]}" | grep -qx -- "$which" || {
    echo "fuzz.sh: no target '$which' (tools/fuzz.sh list)" >&2
    exit 2
  }
  targets=("$which")
fi
if [ "${FUZZ_RECORD:-1}" = 0 ]; then
  kept=()
  for t in "${targets[@]}"; do [ "$t" = record ] || kept+=("$t"); done
  targets=("${kept[@]}")
fi
# One build for every run (a feature that comes and goes would rebuild every target).
features=(--features record)
[ "${FUZZ_RECORD:-1}" = 0 ] && features=()

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz $CARGO_FUZZ_VERSION"
  cargo install --locked --version "$CARGO_FUZZ_VERSION" cargo-fuzz
fi
# libFuzzer is C++, compiled by libfuzzer-sys with the system's compiler.
command -v c++ >/dev/null || {
  echo "fuzz.sh: a C++ compiler is needed (apt-get install g++)" >&2
  exit 2
}

start=$(date +%s)
mkdir -p fuzz/artifacts
if ! (cd fuzz && cargo fuzz build -O -s none "${features[@]}") >fuzz/artifacts/build.log 2>&1; then
  grep -E '^error' -A12 fuzz/artifacts/build.log >&2 || tail -20 fuzz/artifacts/build.log >&2
  echo "fuzz.sh: the build failed (fuzz/artifacts/build.log)" >&2
  exit 1
fi
bin=fuzz/target/x86_64-unknown-linux-gnu/release
cargo build -q --locked -p pcgate-tools --bin fuzz-seeds
seed_inputs=(fixtures/pcaps fixtures/policy.toml fixtures/policy-evening.toml fixtures/catalog/apps.toml)
[ -d ../shared/corpus/pcaps ] && seed_inputs+=(../shared/corpus/pcaps)
target/debug/fuzz-seeds fuzz/corpus "${seed_inputs[@]}" >/dev/null
echo "fuzz: built and seeded in $(($(date +%s) - start)) s; ${#targets[@]} target(s), $seconds s each"

crashed=()
total_runs=0
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
  dict=()
  [ -f "fuzz/dict/$t.dict" ] && dict=("-dict=fuzz/dict/$t.dict")
  log="fuzz/artifacts/$t/last-run.log"
  status=0
  # -timeout: an input that takes over 10 s is a hang; -rss_limit_mb / malloc limit: one input
  # that needs 2 GB is a crash too.
  "$bin/$t" "fuzz/corpus/$t" "${dict[@]}" -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb=2048 -artifact_prefix="fuzz/artifacts/$t/" -print_final_stats=1 "$@" \
    >"$log" 2>&1 || status=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
  runs=${runs:-0}
  total_runs=$((total_runs + runs))
  if [ "$status" -ne 0 ]; then
    crashed+=("$t")
    artifact=$(grep -Eo "fuzz/artifacts/$t/[a-z-]+-[0-9a-f]+" "$log" | tail -1 || true)
    why=$(grep -E "panicked at|ERROR: libFuzzer" -A1 "$log" | head -2 | tr '\n' ' ' || true)
    echo "fuzz $t: CRASH after $runs runs: $why"
    echo "fuzz $t:   input: ${artifact:-see $log}"
  else
    rate=$((runs / (${secs:-1} > 0 ? ${secs:-1} : 1)))
    corpus=$(find "fuzz/corpus/$t" -type f | wc -l)
    echo "fuzz $t: $runs runs in ${secs:-?} s ($rate/s), corpus $corpus, no crash"
  fi
done
echo "fuzz: ${#targets[@]} target(s), $total_runs runs, ${#crashed[@]} crashed${crashed:+: ${crashed[*]}}; $(($(date +%s) - start)) s in all"
[ "${#crashed[@]}" -eq 0 ]
