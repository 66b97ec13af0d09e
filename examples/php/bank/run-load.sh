#!/usr/bin/env bash
# The load test: concurrent PHP processes moving money on the same accounts,
# then an exact comparison of foldb's state with what they did.
#
#   ./run-load.sh <port> <phpredis|predis> [workers] [increases] [decreases] [accounts] [transfers]
#
# Defaults: 8 workers, 200 increases, 50 decreases and 50 transfers each, on 10 accounts.
# Needs a foldb started with this directory's schema.yaml, e.g.
#   foldb --port 6380 --dir "$(mktemp -d)" --schema examples/php/bank/schema.yaml
# Exits 0 only if every balance, version and total is exact and the
# overdraft checks wrote nothing. Can run again on the same server.
# Runs from any directory. FOLDB_PHP names the php binary (default: php on
# PATH); besides it, bash, coreutils and awk are all it needs.
set -euo pipefail

if [[ $# -lt 2 ]]; then
    sed -n '4,5p' "$0" >&2
    exit 2
fi
port=$1 client=$2 workers=${3:-8} increases=${4:-200} decreases=${5:-50} accounts=${6:-10} transfers=${7:-50}
case $client in phpredis|predis) ;; *) echo "client must be phpredis or predis" >&2; exit 2 ;; esac

here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
php=${FOLDB_PHP:-php}
export FOLDB_HOST=${FOLDB_HOST:-127.0.0.1} FOLDB_PORT=$port FOLDB_CLIENT=$client
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== setup: $accounts accounts on $FOLDB_HOST:$port with $client"
"$php" "$here/setup.php" "$accounts" >"$tmp/baseline.json"

echo "== $workers workers x ($increases increases + $decreases decreases + $transfers transfers)"
start=$(date +%s.%N)
pids=()
for w in $(seq 1 "$workers"); do
    "$php" "$here/$client/worker.php" "$w" "$increases" "$decreases" "$accounts" "$transfers" >"$tmp/worker-$w.json" 2>"$tmp/worker-$w.err" &
    pids+=($!)
done
failed=0
for i in "${!pids[@]}"; do
    if ! wait "${pids[$i]}"; then
        echo "worker $((i + 1)) failed:" >&2
        cat "$tmp/worker-$((i + 1)).err" >&2
        failed=1
    fi
done
awk -v start="$start" -v end="$(date +%s.%N)" -v ops=$((workers * (increases + decreases + transfers))) 'BEGIN {
    s = end - start
    printf "done in %.2fs (%d operations, %.0f/s)\n", s, ops, (s > 0 ? ops / s : 0)
}'
for w in $(seq 1 "$workers"); do
    if [[ -s $tmp/worker-$w.err ]]; then
        echo "worker $w wrote to stderr:" >&2
        cat "$tmp/worker-$w.err" >&2
        failed=1
    fi
done
[[ $failed -eq 0 ]] || exit 1

echo "== check"
cat "$tmp"/worker-*.json | "$php" "$here/check.php" "$tmp/baseline.json"

echo "== overdraft and friends: nothing written"
"$php" "$here/overdraft.php"

echo "== PASS ($client)"
