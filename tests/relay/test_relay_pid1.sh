#!/usr/bin/env bash
# The relay as PID 1, a container's entrypoint with no init (relay_lib.sh
# holds what the relay's tests share): processes orphaned into PID 1 (here
# a background child each import program leaves) are reaped, not left as
# zombies until the process table is full; SIGTERM sent to PID 1 reaches
# the relay, whose graceful stop ends PID 1 with status 0.
. "$(dirname "$0")/relay_lib.sh"

if ! unshare --pid --fork --mount-proc true 2>/dev/null; then
	skip "unshare --pid --mount-proc does not work here (not root?): the relay as PID 1"
	echo "test_relay_pid1: ok"
	exit 0
fi
d=$(fresh pid1)
gen "$d/spool" 0 4
# Each run leaves a child behind, orphaned at once into PID 1, then imports.
printf '#!/bin/sh\n( sleep 0.2 & )\nexec "%s" import --po "%s/po" "$1" >/dev/null\n' "$bin" "$d" \
	>"$d/import.sh"
chmod +x "$d/import.sh"
unshare --pid --fork --mount-proc "$bin" relay --spool "$d/spool" --store "$d/store" \
	--import-cmd "$d/import.sh" --batch 1 --dispatchers 1 --stats-interval 0 \
	--log "$d/log" &
outer=$!
pid1=""
within10 eval '[ -n "$(pgrep -P '"$outer"')" ]' || fail "pid1: the relay did not start"
pid1=$(pgrep -P "$outer")
within10 eval '[ "$(field "$d/po" "distinct keys")" = 4 ]' ||
	fail "pid1: not 4 messages delivered: $(field "$d/po" "distinct keys")"
sleep 0.5 # the last import's orphan ends
zombies=$(ps -o pid=,stat=,comm= --ppid "$pid1" | awk '$2 ~ /^Z/')
[ -z "$zombies" ] || fail "pid1: zombies left: $zombies"
grep -q "relay: started as PID 1 (a container's entrypoint)" "$d/log" ||
	fail "pid1: not said: $(head -3 "$d/log")"
kill -TERM "$pid1"
rc=0
wait "$outer" || rc=$?
[ $rc = 0 ] || fail "pid1: exited $rc after SIGTERM"
grep -q "relay: done: 4 delivered" "$d/log" || fail "pid1: no graceful stop: $(tail -3 "$d/log")"
echo "1. the relay as PID 1: orphans reaped, SIGTERM passed on, status 0"
echo "test_relay_pid1: ok"
