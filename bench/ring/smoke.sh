#!/usr/bin/env bash
# Smoke test of bench_ring: every queue at 1:1, 2:2 and 3:1 with tiny counts
# must pass the census (exit 0) and write a CSV with the documented columns;
# then ccp_ring broken on purpose (--inject-fault) must fail it, each way a
# queue can lose or double an item: a slot claimed and never written (the
# run stops moving: LOST), an item dropped (LOST), a pill enqueued twice
# (FAIL), an item enqueued twice (FAIL).  Then bench_ring_loop, when given.
set -euo pipefail
bin=$1
loop=${2:-}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$bin" --threads 1:1,2:2,3:1 --bursts 1,7,32 --items 5000 --reps 2 --capacity 64 \
	--quiet "$dir"
want="queue,producers,consumers,burst,items,reps,mops_median,ns_per_item_median,mops_min,mops_max,census"
got=$(head -n 1 "$dir/ring.csv")
if [ "$got" != "$want" ]; then
	echo "smoke: CSV header is '$got', want '$want'" >&2
	exit 1
fi
rows=$(($(wc -l <"$dir/ring.csv") - 1))
if [ "$rows" -lt 36 ]; then
	echo "smoke: CSV has $rows rows, want at least 36 (4 queues x 3 ratios x 3 bursts)" >&2
	exit 1
fi
if grep -Eq 'FAIL|LOST' "$dir/ring.csv"; then
	echo "smoke: a census failed" >&2
	exit 1
fi
grep -q '"complete":true' "$dir/ring.json"
# The ring moving a burst's words one by one, the A/B of its pairs.
"$bin" --queues ccp_ring_words --threads 1:1,2:2 --bursts 7,32 --items 5000 --reps 2 \
	--capacity 64 --quiet --csv "$dir/words.csv" --json "$dir/words.json"
if [ "$(grep -c '^ccp_ring_words,.*,ok$' "$dir/words.csv")" != 4 ]; then
	echo "smoke: ccp_ring_words: want 4 cells with census ok:" >&2
	cat "$dir/words.csv" >&2
	exit 1
fi
grep -q '"census":"ok"}' "$dir/ring.json"
grep -Eq '"host_round_trip_ns":\{"before":([0-9.]+|null),"after":([0-9.]+|null)\}' "$dir/ring.json"

# The faults.  hole at capacity 64 stops the producers on a full ring, at
# capacity 65536 after every item and pill went in; each waits the run
# limit (1 s) and 2 s of quiet.
for f in hole:64 hole:65536 drop:64 pill:64 twice:64; do
	st=0
	"$bin" --queues ccp_ring --threads 2:2 --bursts 8 --items 20000 --reps 1 --warmup 0 \
		--capacity "${f#*:}" --run-limit 1 --inject-fault "${f%:*}" --quiet \
		--csv "$dir/fault.csv" --json "$dir/fault.json" 2>"$dir/fault.err" || st=$?
	case ${f%:*} in pill | twice) census=FAIL ;; *) census=LOST ;; esac
	if [ "$st" != 1 ] || ! grep -q ",$census\$" "$dir/fault.csv" ||
		! grep -q "\"census\":\"$census\"}" "$dir/fault.json"; then
		echo "smoke: --inject-fault ${f%:*} (capacity ${f#*:}): status $st, want 1 and $census:" >&2
		cat "$dir/fault.csv" "$dir/fault.err" >&2
		exit 1
	fi
done
# Bad flags: status 2 and one line that names the flag.
for bad in "--warmup -5" "--items 0" "--reps x" "--bursts 0" "--capacity 3" "--bogus"; do
	st=0
	# shellcheck disable=SC2086 # the flag and its value are two words
	"$bin" $bad --quiet "$dir" 2>"$dir/bad.err" >/dev/null || st=$?
	if [ "$st" != 2 ] || [ "$(wc -l <"$dir/bad.err")" != 1 ] ||
		! grep -q -- "${bad%% *}" "$dir/bad.err"; then
		echo "smoke: '$bad': status $st, want 2 and one line naming ${bad%% *}:" >&2
		cat "$dir/bad.err" >&2
		exit 1
	fi
done
# Placement: --pin-split runs producers and consumers apart and says so;
# with one CPU to use it cannot, and refuses in one line.
if [ "$(nproc)" -ge 2 ]; then
	"$bin" --queues ccp_ring --threads 1:1 --bursts 8 --items 5000 --reps 1 --pin-split \
		--quiet "$dir"
	grep -q '"pin":true,"placement":"split"' "$dir/ring.json"
	st=0
	taskset -c 0 "$bin" --queues ccp_ring --pin-split --quiet "$dir" 2>"$dir/bad.err" || st=$?
	if [ "$st" != 2 ] || [ "$(wc -l <"$dir/bad.err")" != 1 ] ||
		! grep -q -- "--pin-split" "$dir/bad.err"; then
		echo "smoke: --pin-split on one CPU: status $st, want 2 and one line:" >&2
		cat "$dir/bad.err" >&2
		exit 1
	fi
fi
# bench_ring_loop (one thread, each ring's own operations): its rings run
# to the end without losing an item, and a bad flag is one line, status 2.
if [ -n "$loop" ]; then
	"$loop" --burst 7 --items 20000 --reps 3 --capacity 64 >"$dir/loop.out"
	grep -q '^  ccp_ring .* ns an item' "$dir/loop.out"
	if grep -qw avx /proc/cpuinfo; then
		grep -q '^  ccp_ring_words .* ns an item' "$dir/loop.out"
	fi
	grep -q -e '^  rte_ring .* ns an item' -e '^rte_ring: skipped' "$dir/loop.out"
	st=0
	"$loop" --burst 0 2>"$dir/bad.err" >/dev/null || st=$?
	if [ "$st" != 2 ] || [ "$(wc -l <"$dir/bad.err")" != 1 ] || ! grep -q -- --burst "$dir/bad.err"; then
		echo "smoke: bench_ring_loop --burst 0: status $st, want 2 and one line:" >&2
		cat "$dir/bad.err" >&2
		exit 1
	fi
fi
echo "smoke: bench_ring ok ($rows cells; the injected faults fail the census)"
