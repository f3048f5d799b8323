#!/usr/bin/env bash
# KaryonsCore is I/O-free: standard library only. Fails if anything else creeps in.
set -euo pipefail
cd "$(dirname "$0")/.."
pattern='^\s*import\s+(Glibc|Foundation|FoundationEssentials|Dispatch|Synchronization|CEpoll|Darwin|Musl)\b'
pattern+='|ContinuousClock|SuspendingClock|DispatchTime|Date\(|SystemRandomNumberGenerator'
pattern+='|\.random\(in:[^)]*\)(?!.*using)|\bTask\s*[\{\(]|\basync\b|\bawait\b|\bactor\b|pthread_|Mutex|NSLock'
if grep -rnP "$pattern" Sources/KaryonsCore; then
    echo "check-core-purity: KaryonsCore must import only the standard library and do no I/O (see above)." >&2
    exit 1
fi
echo "check-core-purity: KaryonsCore is standard-library only."
