#!/usr/bin/env bash
# Crash test: kills the release binary with SIGKILL at random moments under load, restarts it,
# and checks that no accepted call is lost (docs/reliability.md, "Crash test").
#
#   scripts/crash-test.sh [RUNS] [SECONDS]
#
# RUNS (default 20) runs of SECONDS (default 40) of load each; every run uses a fresh data
# directory, a recording push receiver and only 127.0.0.1. Each run prints one JSON line of
# figures (scripts/crash_test.py); the last line sums them. Exits non-zero if any run failed.
# DIALTONE_BIN skips the build and tests that binary instead.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${1:-20}
seconds=${2:-40}
bin=${DIALTONE_BIN:-target/release/dialtone}
if [[ -z "${DIALTONE_BIN:-}" ]]; then
    cargo build --release --bin dialtone
fi

results=$(mktemp)
failed=0
for run in $(seq 1 "$runs"); do
    if python3 scripts/crash_test.py --bin "$bin" --seconds "$seconds" --seed "$run" | tee -a "$results"; then
        :
    else
        failed=$((failed + 1))
    fi
done

python3 - "$results" "$failed" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
total = lambda k: sum(r[k] for r in rows)
print(json.dumps({
    "runs": len(rows),
    "failed_runs": int(sys.argv[2]),
    "kills": total("kills"),
    "answered_0": total("answered_0"),
    "lost": total("lost"),
    "cdr_not_received": total("cdr_not_received"),
    "time_reversals": total("time_reversals"),
    "pushes": total("pushes"),
    "duplicate_pushes": total("duplicate_pushes"),
    "calls_disconnected_twice": total("calls_disconnected_twice"),
    "calls_with_two_keys": total("calls_with_two_keys"),
    "integrity_ok": sum(r["integrity_check"] == "ok" for r in rows),
}, sort_keys=True))
PY
rm -f "$results"
[[ $failed -eq 0 ]]
