#!/usr/bin/env bash
# ccpump bench from the command line: bad flags (exit 2, one line naming the
# flag), --help, the JSON report's keys, and the exit status contract.
set -u
bin="$1"
fail() { echo "FAIL: $*" >&2; exit 1; }
sig= w=
trap 'kill $(jobs -p) 2>/dev/null; rm -rf ${sig:+"$sig"} ${w:+"$w"}' EXIT

. "$(dirname "$0")/expect_usage.sh"

expect_usage --pollers bench --pollers abc
expect_usage --pollers bench --pollers 0
expect_usage --dispatchers bench --dispatchers 5000
expect_usage --mode bench --mode quick
expect_usage --wait bench --wait sleep
expect_usage --wait bench --wait yield,sleep
expect_usage --wait bench --wait block,
expect_usage "power of two" bench --ring-size 1000
expect_usage --dup-factor bench --dup-factor 0
expect_usage --duration bench --duration -1
expect_usage --batch bench --batch 12x
expect_usage --bogus bench --bogus
# An unknown option that holds control characters (a script's variable) is
# named escaped: the line cannot recolour the terminal or split in two.
expect_usage "'--x\\x1b[31my\\x0az'" bench $'--x\e[31my\nz'
! "$bin" bench $'--x\e[31my' 2>&1 | tr -d '\n' | LC_ALL=C grep -q '[[:cntrl:]]' ||
	fail "an unknown option's control characters reached the error line"
expect_usage extra bench extra
expect_usage frobnicate frobnicate
# A run the machine cannot hold is refused, not left to the OOM killer.
expect_usage "smaller --ring-size or --payload" bench --ring-size 1073741824 --payload 1048576
expect_usage "fewer --messages" bench --mode naive --messages 4000000000 --payload 1048576
# A run the machine then refuses (here its address space, for check-off
# tables of 2 x 16 GiB) is not a bad flag: status 1, one line.  Not under a
# sanitizer, whose shadow memory needs more address space than the limit.
if [ "${CCPUMP_SANITIZE:-none}" = none ]; then
	err=$( (ulimit -v 2000000 && "$bin" bench --messages 17179869184 --no-progress) 2>&1)
	rc=$?
	[ "$rc" -eq 1 ] || fail "refused check-off tables: exit $rc, not 1: $err"
	[ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] && [ "${err#*cannot reserve check-off}" != "$err" ] ||
		fail "refused check-off tables: not one line naming them: $err"
fi
# The flag named as typed: a value missing, a letter of a cluster (not the
# argument before it), a value given to a switch.
expect_usage "option '--messages' needs a value" bench --messages
expect_usage "unknown option '-Q'" bench --json -Qx
expect_usage "option '--json' takes no value" bench --json=yes
expect_usage "unknown option '-x'" demo --messages 5 -xy
# Plain decimal numbers only: no sign, space, hexadecimal, inf or nan.
expect_usage "--pollers: '+2'" bench --messages 1000 --pollers +2
expect_usage "--dup-factor: ' 2'" bench --messages 1000 --dup-factor " 2"
expect_usage "--duration: '0x0.1'" bench --duration 0x0.1
expect_usage "--duration: 'nan'" bench --duration nan

out=$("$bin" bench --help) || fail "--help exited non-zero"
for f in --mode --pollers --dispatchers --messages --duration --dup-factor --ring-size \
	 --batch --wait --payload --pin --json --progress --no-progress; do
	printf '%s\n' "$out" | grep -q -- "$f" || fail "--help does not list $f"
done
printf '%s\n' "$out" | grep -q "(lockfree)" || fail "--help does not show the mode default"

json=$("$bin" bench --messages 30000 --pollers 3 --dispatchers 2 --dup-factor 8 --json --no-progress)
rc=$?
[ "$rc" -eq 0 ] || fail "lockfree bench exited $rc: $json"
for k in mode pollers dispatchers messages notifications delivered duplicates lost seconds \
	 msgs_per_sec notifications_per_sec claim_conflicts ring_full_waits latency_ns p50 p99 \
	 p999 max peak_rss_bytes allocated_bytes host_round_trip_ns before after; do
	printf '%s' "$json" | grep -q "\"$k\":" || fail "JSON report lacks $k: $json"
done
printf '%s' "$json" | grep -q '"messages":30000,' || fail "wrong message count: $json"
printf '%s' "$json" | grep -q '"delivered":30000,' || fail "not all delivered: $json"
printf '%s' "$json" | grep -q '"duplicates":0,' || fail "duplicates in lockfree mode: $json"
printf '%s' "$json" | grep -q '"lost":0,' || fail "losses in lockfree mode: $json"

# Each side its own wait: pollers yield on a full ring, dispatchers block.
json=$("$bin" bench --messages 20000 --ring-size 8 --wait yield,block --json --no-progress) ||
	fail "bench --wait yield,block failed: $json"
printf '%s' "$json" | grep -q '"wait":"yield,block",' || fail "--wait yield,block: $json"
printf '%s' "$json" | grep -q '"exactly_once":true' || fail "--wait yield,block: $json"

table=$("$bin" bench --messages 20000 --mode mutex --no-progress) || fail "mutex bench failed"
printf '%s\n' "$table" | grep -q "exactly once *yes" || fail "mutex table: $table"
printf '%s\n' "$table" | grep -Eq "host round trip +([0-9]+ ns|-) / ([0-9]+ ns|-)" ||
	fail "no host round trip in the table: $table"

# Naive mode may or may not hit its race in a short run; whichever it did,
# the exit status must agree with the counts.
json=$("$bin" bench --messages 200000 --mode naive --pollers 2 --dup-factor 8 --json --no-progress)
rc=$?
dups=$(printf '%s' "$json" | sed -n 's/.*"duplicates":\([0-9]*\).*/\1/p')
lost=$(printf '%s' "$json" | sed -n 's/.*"lost":\([0-9]*\).*/\1/p')
if [ "$dups" -gt 0 ] || [ "$lost" -gt 0 ]; then
	[ "$rc" -eq 3 ] || fail "naive run with $dups duplicates exited $rc, not 3"
else
	[ "$rc" -eq 0 ] || fail "naive run without duplicates exited $rc"
fi
echo "naive mode: $dups duplicates in 200000 messages (exit $rc)"

# A duration run stops by itself and still accounts for every message.
json=$("$bin" bench --duration 0.5 --json --no-progress) || fail "duration run not exactly once"
printf '%s' "$json" | grep -q '"lost":0,' || fail "duration run lost messages: $json"
printf '%s' "$json" | grep -q '"ended":"duration",' || fail "duration run: why it ended: $json"
json=$("$bin" bench --messages 5000 --json --no-progress) || fail "5000 messages"
printf '%s' "$json" | grep -q '"ended":"messages",' || fail "message run: why it ended: $json"
# The notifications a message got on average, stale copies left out.
npm=$(printf '%s' "$json" | sed -n 's/.*"notifications_per_message":\([0-9.]*\),.*/\1/p')
nots=$(printf '%s' "$json" | sed -n 's/.*"notifications":\([0-9]*\),.*/\1/p')
[ "$(awk -v a="$nots" 'BEGIN {printf "%.3f", a / 5000}')" = "$npm" ] ||
	fail "notifications_per_message $npm for $nots notifications of 5000 messages"
# A run cut short by a signal says so (a sweep must not take it for a
# full run), and stops between chunks even under --rate: at 4 messages a
# second the second chunk of 64 falls due at 16 s, and a stop at 0.5 s
# must not wait for it and notify it (by count, not by a clock).
sig=$(mktemp)
"$bin" bench --messages 1000 --rate 4 --json --no-progress >"$sig" 2>/dev/null &
pid=$!
# Once it catches SIGINT (its SigCgt mask in /proc; SIGINT is bit 1):
# sent before, the signal would end it unreported.  30 s bounds a bench
# that never installs its handler.
catches_int() {
	local mask
	mask=$(sed -n 's/^SigCgt:[[:space:]]*//p' "/proc/$1/status" 2>/dev/null)
	[ -n "$mask" ] && (((0x$mask & 2) != 0))
}
for _ in $(seq 1 3000); do catches_int $pid && break; sleep 0.01; done
catches_int $pid || fail "the bench under --rate 4 did not catch SIGINT within 30 s"
kill -INT $pid
wait $pid
grep -q '"ended":"signal",' "$sig" || fail "a run stopped by SIGINT: $(cat "$sig")"
msgs=$(sed -n 's/.*"messages":\([0-9]*\),.*/\1/p' "$sig")
[ "$msgs" -le 64 ] || fail "SIGINT under --rate 4 notified $msgs messages, a chunk after the stop"
rm -f "$sig"
# The peak of allocated memory is the peak: a ring held full of records
# with 4 KiB payloads (16384 of them, 64 MiB) is in it.
json=$("$bin" bench --messages 100000 --payload 4096 --dispatchers 1 --json --no-progress) ||
	fail "payload run"
case "$json" in
*'"allocator":"jemalloc'*)
	waits=$(printf '%s' "$json" | sed -n 's/.*"ring_full_waits":\([0-9]*\),.*/\1/p')
	peak=$(printf '%s' "$json" | sed -n 's/.*"allocated_bytes":\([0-9]*\),.*/\1/p')
	[ "$waits" -eq 0 ] || [ "$peak" -ge $((48 << 20)) ] ||
		fail "allocated peak $peak with the ring full $waits times: $json" ;;
esac
# demo: a stray argument is refused (it is not the directory); SIGTERM
# during the relay stops it gracefully: the batch in hand finishes, the
# summary is printed, and the post office has no import to undo.
w=$(mktemp -d)
expect_usage "unexpected argument '$w/x'" demo --messages 10 --spool-only "$w/x"
[ ! -e ccpump-demo ] || fail "demo with a stray argument made ./ccpump-demo"
# Its Latin-1 and UTF-8 bodies hold what their labels say: octets past
# ASCII, for the relay's code-page conversion to work on.
"$bin" demo --dir "$w/s" --messages 300 --spool-only >/dev/null || fail "demo spool"
# The relay's flags do nothing with --spool-only: refused, not dropped.
expect_usage "--no-sync is for the relay's run, which --spool-only leaves out" demo \
	--dir "$w/n" --messages 3 --spool-only --no-sync
expect_usage "--pollers is for the relay's run" demo --dir "$w/n" --pollers=4 --spool-only
[ ! -e "$w/n" ] || fail "demo --spool-only with a relay's flag made $w/n"
latin=$(grep -l 'charset=iso-8859-1' "$w"/s/spool/new/* | head -1)
[ -n "$latin" ] && LC_ALL=C grep -q "Caf$(printf '\351')" "$latin" ||
	fail "demo: a Latin-1 body without Latin-1 octets ($latin)"
LC_ALL=C grep -lq "Caf$(printf '\303\251')" "$w"/s/spool/new/* ||
	fail "demo: no UTF-8 body with UTF-8 octets"
"$bin" demo --dir "$w/d" --messages 2000 --max-body 512 --batch 1 --dispatchers 1 \
	>"$w/out" 2>"$w/err" &
pid=$!
for _ in $(seq 1 6000); do [ -d "$w/d/store" ] && break; sleep 0.01; done
kill -TERM $pid
wait $pid
rc=$?
[ "$rc" -eq 0 ] || fail "demo stopped by SIGTERM exited $rc: $(cat "$w/out" "$w/err")"
grep -q "stopped early *yes" "$w/out" || fail "demo after SIGTERM: $(cat "$w/out")"
grep -q "exactly once *yes" "$w/out" || fail "demo after SIGTERM: $(cat "$w/out")"
"$bin" po stats --po "$w/d/po" >/dev/null 2>"$w/stats.err" || fail "po stats after the demo"
[ ! -s "$w/stats.err" ] || fail "demo stopped in an import: $(cat "$w/stats.err")"
rm -rf "$w"

# ccpump-bench (the bench-only front end a static build carries to other
# machines) runs the same command, and knows no other.
if [ -n "${2:-}" ]; then
	"$2" bench --messages 100000 --pollers 3 --dup-factor 4 --no-progress >/dev/null ||
		fail "ccpump-bench bench was not exactly once"
	bin="$2"
	expect_usage "unknown command" relay --spool x
fi
echo "test_cli_bench: ok"
