#!/usr/bin/env bash
# The whole Karyons benchmark report in one command: builds the Benchmarks package in release mode
# (which also builds the malloc interposer the allocation pass preloads) and runs bench-compare.
# Arguments go to bench-compare, e.g. `Benchmarks/bench.sh --markdown`, `Benchmarks/bench.sh --quick`,
# `Benchmarks/bench.sh --sections pingpong,routing`. See Benchmarks/README.md.
set -euo pipefail
cd "$(dirname "$0")"
if ! swift build -c release > .build-bench.log 2>&1; then
    cat .build-bench.log >&2
    exit 1
fi
exec .build/release/bench-compare "$@"
