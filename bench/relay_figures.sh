#!/usr/bin/env bash
# The relay's figures of docs/performance.md (issue 4), in one run:
#   1. messages of 1 KB to 10 KB from a spool on the local disk into the
#      built-in post office, durable batches (--batch 1024) against a sync
#      per message (--batch 1), same spool generator and seed;
#   2. memory with 1,000,000 small files waiting: the relay's RSS, sampled
#      once a second from /proc while it works through the backlog.
#   The spool is on disk when the relay starts: ccpump demo syncs what it
#   writes, as an MTA fsyncs each Maildir delivery.
#   Before and after the runs it reads how fast the work directory's disk
#   removes synced files (plain rm): the relay removes every spool file it
#   delivered, and on a disk that removes slowly that rate bounds it.
#   bench/relay_figures.sh [MESSAGES] [BATCH1_MESSAGES] [BACKLOG]
set -euo pipefail
bin=$(realpath "${CCPUMP:-./build/ccpump}")
n=${1:-100000}
n1=${2:-3000}
backlog=${3:-1000000}
work=${WORK:-$(mktemp -d /var/tmp/ccpump-relay.XXXXXX)}
trap 'rm -rf "$work"' EXIT

echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(df -h "$work" | awk 'NR==2 {print $1}')"
run() { # run NAME MESSAGES BATCH: prints msgs/s
	local d="$work/$1"
	"$bin" demo --dir "$d" --messages "$2" --max-body 9000 --spool-only >/dev/null
	local t0 t1
	t0=$(date +%s.%N)
	"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --once --batch "$3" \
		--stats-interval 0 2>/dev/null
	t1=$(date +%s.%N)
	local dup keys
	dup=$("$bin" po stats --po "$d/po" | sed -n 's/^duplicate deliveries: *//p')
	keys=$("$bin" po stats --po "$d/po" | sed -n 's/^distinct keys: *//p')
	[ "$dup" = 0 ] && [ "$keys" = "$2" ] || { echo "exactly-once check failed: $keys keys, $dup dups" >&2; exit 3; }
	awk -v n="$2" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", n / (b - a)}'
	rm -rf "$d"
}
# unlink_rate: how many synced 5 KB files a second one rm removes here.
unlink_rate() {
	local d="$work/unlink-probe" i t0 t1
	mkdir -p "$d"
	for ((i = 0; i < 2000; i++)); do head -c 5000 /dev/zero >"$d/f$i"; done
	sync
	t0=$(date +%s.%N)
	rm -rf "$d"
	t1=$(date +%s.%N)
	awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", 2000 / (b - a)}'
}
echo "command: ccpump demo --messages N --max-body 9000 --spool-only; ccpump relay --once --batch B"
before=$(unlink_rate)
big=$(run big "$n" 1024)
one=$(run one "$n1" 1)
echo "disk: $before synced files removed a second before the runs, $(unlink_rate) after (2,000 of 5 KB, rm)"
echo "durable batches (--batch 1024): $big msgs/s over $n messages"
echo "sync per message (--batch 1):   $one msgs/s over $n1 messages"
awk -v a="$big" -v b="$one" 'BEGIN {printf "ratio: %.1f\n", a / b}'

# backlog SPOOL-COPY IMPORT-ARGS...: RSS while the relay works through it.
backlog() {
	local d="$work/backlog" hwm=0 prev=0 t
	rm -rf "$d"
	"$bin" demo --dir "$d" --messages "$backlog" --max-body 600 --spool-only >/dev/null
	"$bin" relay --spool "$d/spool" --store "$d/store" --once --stats-interval 0 "$@" \
		--no-sync 2>/dev/null &
	local pid=$!
	for t in 1 2 5 10 20 40 80 160 320; do
		while [ $prev -lt $t ] && kill -0 $pid 2>/dev/null; do
			h=$(awk '/VmHWM/ {print $2}' /proc/$pid/status 2>/dev/null) && [ -n "$h" ] && hwm=$h
			sleep 1
			prev=$((prev + 1))
		done
		kill -0 $pid 2>/dev/null || break
		echo "  t=${t}s rss $(awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' /proc/$pid/status)," \
			"$(find "$d/spool/new" -maxdepth 1 -type f | wc -l) files waiting"
	done
	while kill -0 $pid 2>/dev/null; do
		h=$(awk '/VmHWM/ {print $2}' /proc/$pid/status 2>/dev/null) && [ -n "$h" ] && hwm=$h
		sleep 1
	done
	wait $pid
	echo "  peak rss: $((hwm / 1024)) MiB"
}
echo "backlog of $backlog files (ccpump demo --max-body 600 --spool-only), relay --once --no-sync:"
echo "with an external import (--import-cmd true): the relay's own memory"
backlog --import-cmd true
echo "with the built-in post office (its index of delivered pairs included)"
backlog --po "$work/backlog/po"
