#!/usr/bin/env bash
# Coverage-guided fuzzing of every wire and text decoder (RELIABILITY.md item 11).
#
#   Scripts/fuzz-wire.sh [seconds] [extra libFuzzer flags...]     (default: 60 seconds)
#
# Builds the FuzzWire target with libFuzzer and AddressSanitizer in its own scratch directory, then
# runs it on the committed seed corpus (Fuzz/corpus/wire, read-only) plus a working corpus in
# .build-fuzz/corpus-wire. A crash writes its input to fuzz-artifacts/ and exits non-zero; replay it
# with `swift run FuzzWire fuzz-artifacts/crash-...`.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true

swift build --scratch-path .build-fuzz --sanitize=fuzzer --sanitize=address --product FuzzWire -Xswiftc -DFUZZING
mkdir -p .build-fuzz/corpus-wire fuzz-artifacts
# Without SWIFT_BACKTRACE=enable=no a Swift trap under ASan is misreported inside the backtracer.
SWIFT_BACKTRACE=enable=no .build-fuzz/debug/FuzzWire \
    -max_total_time="$seconds" -max_len=4096 -print_final_stats=1 -artifact_prefix=fuzz-artifacts/ \
    "$@" .build-fuzz/corpus-wire Fuzz/corpus/wire
