#!/usr/bin/env bash
# The ID and the transaction at work: kill -9 foldb in the middle of the load
# test (increases, decreases and transfers), start it again on the same data,
# and check that every balance, version and total is still exact: appends
# that lost their reply were sent again with the same ID and written once,
# and no transfer was cut in half.
#
#   ./run-crash.sh <foldb-binary> <port> <phpredis|predis> [data-dir]
#
# Starts (and stops) its own foldb on <port> (0: a free one, which the
# restart takes again), with a fresh data directory, or with data-dir, which
# it leaves in place for a later look.
set -euo pipefail

if [[ $# -lt 3 || $# -gt 4 ]]; then
    sed -n '8p' "$0" >&2
    exit 2
fi
foldb=$1 port=$2 client=$3
here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
php=${FOLDB_PHP:-php}
tmp=$(mktemp -d)
data=${4:-$tmp/data}
server=
trap '[[ -n $server ]] && { kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; }; rm -rf "$tmp"' EXIT

# start N: starts foldb and waits for its Nth "foldb started" line, then
# takes the port it listens on from that line.
start() {
    "$foldb" --port "$port" --dir "$data" --schema "$here/schema.yaml" >/dev/null 2>>"$tmp/foldb.log" &
    server=$!
    for _ in $(seq 200); do
        if [[ $(grep -c "foldb started" "$tmp/foldb.log" 2>/dev/null) -ge $1 ]]; then
            port=$(grep "foldb started" "$tmp/foldb.log" | tail -n 1 | sed -E 's/.* addr=[^ ]*:([0-9]+).*/\1/')
            return
        fi
        kill -0 "$server" 2>/dev/null || break
        sleep 0.05
    done
    echo "foldb did not start:" >&2
    cat "$tmp/foldb.log" >&2
    exit 1
}

start 1
export FOLDB_HOST=127.0.0.1 FOLDB_PORT=$port FOLDB_CLIENT=$client
"$php" "$here/setup.php" 10 >"$tmp/baseline.json"
pids=()
for w in $(seq 1 8); do
    "$php" "$here/$client/worker.php" "$w" 1000 250 10 250 >"$tmp/worker-$w.json" 2>"$tmp/worker-$w.err" &
    pids+=($!)
done
# Kill once the workers have appended 1,000 events (of about 14,000): a
# second of load, more on a slow machine or a -race build, which waiting a
# fixed time would cut short.
"$php" -r '
    require $argv[1] . "/bootstrap.php";
    for ($deadline = microtime(true) + 60; microtime(true) < $deadline; usleep(20_000)) {
        $events = 0;
        for ($id = 1; $id <= 10; ++$id) {
            $events += Bank\Store::client()->version("account:{$id}");
        }
        if ($events >= 10 + 1000) {
            break;
        }
    }' "$here"
kill -KILL "$server"
wait "$server" 2>/dev/null || true
echo "== killed foldb (-9) during the load, starting it again"
start 2
failed=0
for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || { echo "worker $((i + 1)) failed:" >&2; cat "$tmp/worker-$((i + 1)).err" >&2; failed=1; }
done
[[ $failed -eq 0 ]] || exit 1
grep 'foldb started' "$tmp/foldb.log" | sed 's/.*msg=/msg=/'
cat "$tmp"/worker-*.json | "$php" "$here/check.php" "$tmp/baseline.json"
echo "== PASS ($client, after kill -9)"
