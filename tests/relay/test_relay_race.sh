#!/usr/bin/env bash
# ccpump relay end to end (the first of four parts; relay_lib.sh holds
# what they share):
#   1. exactly once with 4 pollers while inotify and 50 ms rescans race;
#      more pollers than inotify instances;
#   5. bad flags and unusable directories (status 2, one line naming the
#      flag), and a first run that makes the spool, the store and the post
#      office.
set -u
. "$(dirname "$0")/relay_lib.sh"

# ---- 1. racing notifications -------------------------------------------
d=$(fresh race)
"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --pollers 4 --dispatchers 3 --pin \
	--batch 16 --rescan-interval 0.05 --stats-interval 0.5 --stats-file "$d/stats.json" --log "$d/log" &
pid=$!
for b in 0 1 2 3 4 5 6 7 8 9; do gen "$d/spool" $((b * 150)) 150; sleep 0.05; done
# A second relay on the same store, or the same spool, is refused (status
# 2, naming the first's pid) and touches nothing of the running one.
for second in "--store $d/store --spool $d/spool2" "--store $d/store2 --spool $d/spool"; do
	"$bin" relay $second --po "$d/po" --once 2>"$d/second.err"
	rc=$?
	[ $rc = 2 ] || fail "race: a second relay ($second) exited $rc, not 2"
	grep -q "is in use by another ccpump relay" "$d/second.err" ||
		fail "race: the second relay's refusal: $(cat "$d/second.err")"
	grep -q "(pid $pid)" "$d/second.err" || fail "race: the refusal without the pid: $(cat "$d/second.err")"
done
wait_empty "$d/spool" 60 || fail "race: spool not drained"
kill -TERM $pid
wait $pid || fail "race: relay exited $? after SIGTERM"
[ "$(field "$d/po" 'duplicate deliveries')" = 0 ] || fail "race: duplicate deliveries"
[ "$(field "$d/po" 'distinct keys')" = 1500 ] || fail "race: not 1500 messages"
[ "$(field "$d/po" delivered)" = "$(recipients 0 1500)" ] || fail "race: deliveries"
supp=$(grep -o 'duplicate notifications suppressed [0-9]*' "$d/log" | tail -1 | awk '{print $4}')
[ "${supp:-0}" -gt 0 ] || fail "race: no duplicate notification was ever suppressed"
grep -q 'stopping: finishing the batches in flight' "$d/log" || fail "race: no graceful stop in the log"
grep 'stats: ' "$d/log" | tail -1 | grep -q 'msgs/s, delivered 1500, .*waiting in ring 0, in flight 0, deferred now 0' ||
	fail "race: the last stats line does not show 1500 delivered and nothing left"
grep -q 'stats: [1-9][0-9]* msgs/s' "$d/log" || fail "race: no stats line with a rate"
stats_hold race "$d" 's["state"] == "done" and s["delivered"] == 1500 and s["waiting_in_ring"] == 0'
stats_hold race "$d" 's["duplicate_notifications_suppressed"] > 0 and s["paused_seconds"] == 0'
# 1500 files removed from new/: the dispatchers' time for it is counted.
stats_hold race "$d" 's["settle_seconds"] > 0'
grep 'stats: ' "$d/log" | tail -1 | grep -q ', settling spool files [0-9]*\.[0-9] s' ||
	fail "race: the last stats line does not say the time spent settling spool files"
[ "$(batch_sum "$d/log" delivered)" = 1500 ] ||
	fail "race: the per-batch lines count $(batch_sum "$d/log" delivered) delivered, not 1500"
# The same counts from the least memory: sorted runs in a temporary directory.
"$bin" po stats --po "$d/po" --json >"$d/stats.mem" || fail "race: po stats"
"$bin" po stats --po "$d/po" --json --memory 4K --tmp-dir "$d" >"$d/stats.disk" ||
	fail "race: po stats --memory 4K"
grep -q '"spill_runs": 0}' "$d/stats.mem" || fail "race: default stats spilled: $(cat "$d/stats.mem")"
grep -q '"spill_runs": [1-9]' "$d/stats.disk" || fail "race: 4K stats did not spill: $(cat "$d/stats.disk")"
[ "$(sed 's/, "spill_runs.*//' "$d/stats.mem")" = "$(sed 's/, "spill_runs.*//' "$d/stats.disk")" ] ||
	fail "race: stats differ with --memory 4K: $(cat "$d/stats.mem") / $(cat "$d/stats.disk")"
echo "1. race: 1500 messages, $(field "$d/po" delivered) deliveries, $supp duplicate notifications suppressed"

# More pollers than watch new/ with inotify (8): the rest find files by
# their rescans, and everything is delivered once.
d=$(fresh manypollers)
gen "$d/spool" 0 200
"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --pollers 40 --once \
	--stats-interval 0 --stats-file "$d/stats.json" --log "$d/log" ||
	fail "many pollers: relay failed: $(tail -2 "$d/log")"
! grep -q "have no inotify watch" "$d/log" || fail "many pollers: took more inotify instances than 8"
[ "$(field "$d/po" 'distinct keys')" = 200 ] || fail "many pollers: not 200 delivered"
[ "$(field "$d/po" 'duplicate deliveries')" = 0 ] || fail "many pollers: duplicates"
# A spool full before the start goes in batches: their files leave new/
# together (spool_ack_burst()), and that time is counted too.
stats_hold "many pollers" "$d" 's["delivered"] == 200 and s["imports"] < 200 and s["settle_seconds"] > 0'
# With --batch 1 each file leaves alone (spool_ack()), and is counted too.
d=$(fresh batchone)
gen "$d/spool" 0 5
"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --batch 1 --once \
	--stats-interval 0 --stats-file "$d/stats.json" --log "$d/log" ||
	fail "batch 1: relay failed: $(tail -2 "$d/log")"
stats_hold "batch 1" "$d" 's["delivered"] == 5 and s["imports"] == 5 and s["settle_seconds"] > 0'
echo "1b. 40 pollers, 8 of them watching: 200 delivered once; the time settling files counted, in batches and alone"


# ---- 5. bad flags and unusable directories: one line, status 2 ---------
expect2() { # expect2 ARGS...: status 2 and one line, kept in $err
	local rc
	err=$("$bin" "$@" 2>&1 >/dev/null); rc=$?
	[ "$rc" -eq 2 ] || fail "'$*' exited $rc, not 2"
	[ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || fail "'$*' printed more than one line: $err"
}
says() { # says TEXT...: the last expect2's line holds each TEXT
	for t in "$@"; do
		case "$err" in *"$t"*) ;; *) fail "the line does not say '$t': $err" ;; esac
	done
}
: >"$work/a-file"
expect2 relay --spool "$work/a-file" --store "$work/st" --po "$work/race/po"
expect2 relay --spool "$work/no-parent/spool" --store "$work/st" --po "$work/race/po"
mkdir -p "$work/not-a-po" # a directory, but no post office: not made over
expect2 relay --spool "$work/race/spool" --store "$work/st" --po "$work/not-a-po"
expect2 relay --spool "$work/race/spool" --store "$work/st"
expect2 relay --spool "$work/race/spool" --store "$work/st" --po "$work/race/po" --batch 0
expect2 relay --spool "$work/race/spool" --store "$work/st" --po "$work/race/po" --profile fast
expect2 relay --spool "$work/race/spool" --store "$work/st" --po "$work/race/po" --log-level loud
expect2 queue --spool "$work/a-file" --store "$work/st"
expect2 queue --store "$work/st" --flush --json
expect2 queue --spool "$work/race/spool" --store "$work/st" --flush --requeue-all
expect2 queue --flush
expect2 queue --store "$work/st" --requeue x
expect2 queue --spool "$work/race/spool" --store "$work/st" stray
expect2 relay --spool "$work/race/spool" --store "$work/st" --po "$work/race/po" \
	--bounce-cmd true --bounce-from 'not an address'
# The flag named as typed: a value missing at the end, a letter of a
# cluster (not the argument before it), a value given to a switch.  (Their
# directories cannot be made: no flag read wrongly starts a relay.)
nowhere=(--spool "$work/no-parent/spool" --store "$work/no-parent/store" --po "$work/no-parent/po")
expect2 relay "${nowhere[@]}" --batch
says "option '--batch' needs a value"
expect2 relay "${nowhere[@]}" --once -ab
says "unknown option '-a'"
expect2 relay "${nowhere[@]}" --once=yes
says "option '--once' takes no value"
expect2 queue --store "$work/st" --list 5 -xy
says "unknown option '-x'"
expect2 queue --store "$work/st" --requeue
says "option '--requeue' needs a value"
# Plain decimal numbers only; a duration under a nanosecond is not 0 (none).
for v in " 5" +5 0x10; do
	expect2 queue --spool "$work/race/spool" --store "$work/st" --list "$v"
	says "--list: '$v'"
done
for v in 0x10 inf nan " 1" +1 1e; do
	expect2 relay "${nowhere[@]}" --retry-min "$v"
	says "--retry-min: '$v'"
done
for f in --import-timeout --max-age --stats-interval; do
	expect2 relay "${nowhere[@]}" $f 1e-10
	says "$f: '1e-10' rounds to 0 ns"
done
# Delays that cannot be: refused with both flags, before anything is made.
mkdir "$work/rr"
expect2 relay --spool "$work/rr/spool" --store "$work/rr/store" --po "$work/rr/po" \
	--retry-min 20 --retry-max 10
says "--retry-min 20" "--retry-max 10"
[ -z "$(ls -A "$work/rr")" ] || fail "retry delays: made $(ls "$work/rr") before refusing them"
expect2 relay --spool "$work/rr/spool" --store "$work/rr/store" --po "$work/rr/po" --retry-min 700
says "--retry-min 700" "--retry-max 600"
# Without glibc's converters for the code page (gconv modules not
# installed, as in a bare container; here hidden by a mount), the relay
# says so at start, status 2, one line, and makes nothing.
gconv=$(dirname "$(find /usr/lib /usr/lib64 -name IBM437.so -path '*gconv*' 2>/dev/null | head -1)")
if [ -d "$gconv" ] && unshare -m --propagation private true 2>/dev/null; then
	mkdir -p "$work/gc/empty"
	err=$(unshare -m --propagation private sh -c 'mount --bind "$1" "$2" && shift 2 && exec "$@"' \
		sh "$work/gc/empty" "$gconv" "$bin" relay --spool "$work/gc/spool" \
		--store "$work/gc/store" --po "$work/gc/po" --once 2>&1 >/dev/null)
	rc=$?
	[ "$rc" -eq 2 ] || fail "no gconv: relay exited $rc, not 2: $err"
	[ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || fail "no gconv: more than one line: $err"
	says "cannot convert to code page 437" "GCONV_PATH"
	[ ! -e "$work/gc/spool" ] && [ ! -e "$work/gc/store" ] || fail "no gconv: made directories first"
else
	skip "no gconv folder, or unshare -m does not work here: a relay without converters"
fi
# A spool locked by some other process (anyone who may read the directory
# can flock it): refused in one line that names the holder and what to do.
mkdir -p "$work/held/spool/new" "$work/held/spool/tmp" "$work/held/spool/cur"
hold() { # hold: the spool's lock taken by a flock(1) in the background, as $holder
	flock "$work/held/spool" sleep 60 &
	holder=$!
	for _ in $(seq 100); do flock -n "$work/held/spool" true || break; sleep 0.05; done
}
unhold() { kill $(pgrep -P $holder sleep) $holder 2>/dev/null; wait $holder 2>/dev/null; }
held_relay() { # held_relay ARGS...: a relay on the held spool (in the foreground: $! of
	# one in the background would be a subshell's)
	"$bin" relay --spool "$work/held/spool" --store "$work/held/store" --po "$work/held/po" "$@"
}
hold
err=$(held_relay --once 2>&1 >/dev/null)
rc=$?
[ "$rc" -eq 2 ] || fail "held: relay exited $rc, not 2: $err"
[ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || fail "held: more than one line: $err"
case $err in
*"spool $work/held/spool is locked by pid $holder (flock), not a ccpump relay"*"0711"*) ;;
*) fail "held: the refusal does not name the holder: $err" ;;
esac
# The same lock once its taker is gone, its command (the sleep) holding the
# descriptor on: said so, with the taker's pid.
sleeper=$(pgrep -P $holder sleep)
kill $holder
wait $holder 2>/dev/null
err=$(held_relay --once 2>&1 >/dev/null)
kill $sleeper
case $err in
*"spool $work/held/spool is locked by another process (taken by pid $holder, now gone)"*"0711"*) ;;
*) fail "held: the refusal when the lock's taker is gone: $err" ;;
esac
# Readable by every user: the relay warns once it is up; 0711 is quiet.
chmod 0755 "$work/held/spool"
held_relay --once 2>"$work/held/err" || fail "held: a relay on a 0755 spool exited $?"
grep -q "warning: relay: spool $work/held/spool is readable by every user (mode 0755)" \
	"$work/held/err" || fail "held: no warning on a spool every user may read: $(cat "$work/held/err")"
chmod 0711 "$work/held/spool"
held_relay --once 2>"$work/held/err" || fail "held: a relay on a 0711 spool exited $?"
grep -q "readable by every user" "$work/held/err" && fail "held: warned on a 0711 spool"
# A spool on a file system mounted with 'discard' (each removal may wait for
# the device): the relay warns, read from /proc/self/mountinfo, where this
# machine's own mount table says so; with --keep (renames) it never does.
majmin=$(stat -c '%Hd:%Ld' "$work/held/spool/new")
discard=$(awk -v d="$majmin" '$3 == d { for (i = 7; i <= NF && $i != "-"; i++); if (("," $6 "," $(i+3) ",") ~ /,discard,/) print "yes" }' /proc/self/mountinfo | head -1)
if [ "$discard" = yes ]; then
	grep -q "warning: relay: spool $work/held/spool is on .* with 'discard'" "$work/held/err" ||
		fail "held: no warning on a spool mounted with discard: $(cat "$work/held/err")"
	held_relay --once --keep 2>"$work/held/err" || fail "held: --keep exited $?"
fi
grep -q "with 'discard'" "$work/held/err" &&
	fail "held: a discard warning where mountinfo says none, or with --keep: $(cat "$work/held/err")"
# A relay that is not --once waits such a holder out, holding the store,
# and relays once the lock is free; stopped while it waits, it exits 0.
hold
"$bin" relay --spool "$work/held/spool" --store "$work/held/store" --po "$work/held/po" \
	--stats-interval 0 --rescan-interval 0.2 --log "$work/held/log" &
relay=$!
within10 grep -q "spool $work/held/spool is locked by pid $holder (flock), not a ccpump relay:.*waiting for it to let go" \
	"$work/held/log" || { unhold; fail "held: the relay does not say it waits: $(cat "$work/held/log")"; }
gen "$work/held/spool" 0 3
sleep 0.5
[ "$(ls "$work/held/spool/new" | wc -l)" = 3 ] || { unhold; fail "held: relayed before the lock was free"; }
unhold
wait_empty "$work/held/spool" 20 || fail "held: not relayed once the lock was free"
grep -q "relay: spool $work/held/spool: its lock is ours now" "$work/held/log" || fail "held: no line once the lock was taken"
kill -TERM $relay
wait $relay || fail "held: the relay exited $? after SIGTERM"
[ "$(field "$work/held/po" 'distinct keys')" = 3 ] || fail "held: not the 3 messages delivered"
hold
"$bin" relay --spool "$work/held/spool" --store "$work/held/store" --po "$work/held/po" \
	--stats-interval 0 --log "$work/held/log2" &
relay=$!
within10 grep -q "waiting for it to let go" "$work/held/log2" || { unhold; fail "held: the second relay does not wait"; }
kill -TERM $relay
wait $relay
rc=$?
unhold
[ $rc = 0 ] || fail "held: stopped while waiting, the relay exited $rc"
grep -q "stopped while waiting for the spool's lock: nothing was relayed" "$work/held/log2" ||
	fail "held: stopped while waiting: $(cat "$work/held/log2")"
echo "5. bad flags and unusable directories: status 2 with one line naming the flag"

# ---- 5b. a first run: spool, store and post office are made -------------
d="$work/first"
mkdir "$d"
"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --once --stats-interval 0 \
	2>"$d/log" || fail "first run: status $?"
for x in spool/tmp spool/new spool/cur store/Submit store/Import store/Bad store/Deferred; do
	[ -d "$d/$x" ] || fail "first run: $x was not made"
done
grep -q "post office $d/po initialised" "$d/log" || fail "first run: no line for the new post office"
gen "$d/spool" 0 5
"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --once --stats-interval 0 \
	2>/dev/null || fail "first run: the second run failed"
[ "$(field "$d/po" 'distinct keys')" = 5 ] || fail "first run: the made post office did not get 5"
echo "5b. a first run makes the spool, the store and the post office"
echo "test_relay_race: ok"
