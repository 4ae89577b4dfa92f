#!/usr/bin/env bash
# Runs every test of the workspace (the README's test command). Installs nothing for now: the
# tests need only Rust and the shared corpus beside the checkout (../shared/corpus).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --workspace --locked
