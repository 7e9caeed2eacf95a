#!/usr/bin/env bash
# Soak test: `dialtone load` places calls at a steady rate against a release Dialtone on a scaled
# clock, pushing to a real receiver, and Dialtone's RSS is sampled throughout. It passes when,
# after the warm-up, RSS stays within 10 % of what it was at the end of the warm-up: finished
# calls leave memory (retention) and nothing else grows with the number of calls, and when no
# push failed: the receiver answers every one.
#
#   scripts/soak.sh [durable|ephemeral] [SECONDS] [RATE]
#
# Defaults: durable, 600 s, 500/s. The warm-up is the first fifth of the run, or longer when the
# X-AKSK nonce memory (100 000 nonces, one per request) fills later than that: a bounded cache
# filling up is not growth. Only 127.0.0.1 is
# used (ports 19301-19302). Prints one line per sample (seconds, RSS in KiB, calls accepted) and
# a JSON verdict; exits non-zero if RSS grew more than 10 % or a push failed. DIALTONE_BIN skips
# the build.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-durable}
seconds=${2:-600}
rate=${3:-500}
bin=${DIALTONE_BIN:-target/release/dialtone}
if [[ -z "${DIALTONE_BIN:-}" ]]; then
    cargo build --release --bin dialtone
fi
# The receiver must keep up with ~5 pushes per call, or Dialtone rightly queues what it owes and
# memory follows the receiver's backlog: a small Rust one (examples/soak_receiver.rs).
cargo build --release --example soak_receiver
receiver=target/release/examples/soak_receiver
port=19301
recv=19302
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

cat > "$work/soak.toml" <<TOML
[server]
listen = "127.0.0.1:$port"

[[developers]]
sp_id = "soak_sp"
username = "soak_dev"
password = "soak-pass-1"

[[apps]]
app_key = "soakAppKey0001"
app_secret = "soakAppSecret0001"
developer = "soak_sp"
max_concurrent_calls = 1000000
numbers = ["+862087654321"]
status_url = "http://127.0.0.1:$recv/status"
fee_url = "http://127.0.0.1:$recv/fee"

[platform]
ports = 1000000

[clock]
mode = "scaled"
speed = 10.0

[frequency]
rules = []

[auth.lockout]
enabled = false
TOML
case "$mode" in
    durable) store=(--data-dir "$work/data") ;;
    ephemeral) store=(--ephemeral) ;;
    *) echo "mode is durable or ephemeral, not $mode" >&2; exit 2 ;;
esac

"$receiver" "$recv" & pids+=($!)
# Warnings, and the transport's cause for every push that got no answer (resent or failed).
RUST_LOG=warn,dialtone::push::transport=debug "$bin" serve --config "$work/soak.toml" "${store[@]}" > "$work/dialtone.log" 2>&1 &
dt=$!
pids+=($dt)
for _ in $(seq 100); do
    curl -sf -o /dev/null "http://127.0.0.1:$port/health" && break
    sleep 0.1
done

"$bin" load --url "http://127.0.0.1:$port" --app-key soakAppKey0001 --app-secret soakAppSecret0001 \
    --display +862087654321 --rate "$rate/s" --duration "${seconds}s" --drain 30s --seed 1 --json \
    > "$work/load.json" 2> "$work/load.err" &
load=$!
pids+=($load)

samples="$work/rss.csv"
start=$(date +%s)
while kill -0 "$load" 2>/dev/null; do
    now=$(( $(date +%s) - start ))
    rss=$(awk '/VmRSS/{print $2}' "/proc/$dt/status")
    accepted=$(curl -s "http://127.0.0.1:$port/sim/v1/reports/reconciliation" |
        python3 -c 'import sys,json; print(sum(r["accepted"] for r in json.load(sys.stdin)))' 2>/dev/null || echo "?")
    echo "$now $rss $accepted" | tee -a "$samples"
    sleep 5
done
wait "$load" || { echo "dialtone load failed:" >&2; cat "$work/load.err" >&2; exit 1; }

if python3 - "$samples" "$seconds" "$mode" "$rate" "$work/load.json" <<'PY'
import json, sys
rows = [line.split() for line in open(sys.argv[1]) if line.strip()]
rows = [(int(t), int(r)) for t, r, *_ in rows]
seconds, mode, rate = int(sys.argv[2]), sys.argv[3], sys.argv[4]
warm = max(seconds // 5, 100_000 // int(rate) + 20)
after = [r for t, r in rows if t >= warm]
base = after[0]
peak = max(after)
load = json.load(open(sys.argv[5]))
verdict = {
    "mode": mode, "rate_per_s": int(rate), "seconds": seconds, "warm_up_s": warm,
    "rss_kib_at_warm_up": base, "rss_kib_peak_after": peak, "rss_kib_last": after[-1],
    "growth_pct": round(100.0 * (peak - base) / base, 1),
    "calls": load["calls"], "achieved_rate_per_s": load["achieved_rate_per_s"],
    "pushes_delivered": load["pushes"]["delivered"], "pushes_failed": load["pushes"]["failed"],
    "push_errors": load["pushes"]["by_error"],
}
verdict["flat"] = verdict["growth_pct"] <= 10.0
# The receiver answers every push: a failed one is Dialtone's, and status pushes are not retried.
verdict["passed"] = verdict["flat"] and verdict["pushes_failed"] == 0
print(json.dumps(verdict, sort_keys=True))
sys.exit(0 if verdict["passed"] else 1)
PY
then
    passed=1
else
    passed=0
fi
resent=$(grep -c "push unread; resent" "$work/dialtone.log" || true)
echo "pushes resent at once on a new connection: $resent"
if [[ $passed == 0 ]]; then
    # The work directory goes with the exit: say here what the log says of the failures.
    echo "Dialtone's warnings and the causes of failed pushes (last 40):" >&2
    grep -E " WARN |push got no answer" "$work/dialtone.log" | tail -40 >&2 || true
    exit 1
fi
