#!/usr/bin/env bash
# The whole Karyons benchmark report in one command: builds the Benchmarks package in release mode
# (which also builds the malloc interposer the allocation pass preloads) and runs bench-compare.
# Arguments go to bench-compare, e.g. `Benchmarks/bench.sh --markdown`, `Benchmarks/bench.sh --quick`,
# `Benchmarks/bench.sh --sections pingpong,routing`. See Benchmarks/README.md.
set -euo pipefail
cd "$(dirname "$0")"
swift build -c release 2>&1 | grep -E "error|warning: |Compiling|Build complete" | grep -v "^\[" || true
exec .build/release/bench-compare "$@"
