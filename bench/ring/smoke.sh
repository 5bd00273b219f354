#!/usr/bin/env bash
# Smoke test of bench_ring: every queue at 1:1 and 2:2 with tiny counts must
# pass the census (exit 0) and write a CSV with the documented columns.
set -euo pipefail
bin=$1
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
if grep -q FAIL "$dir/ring.csv"; then
	echo "smoke: a census failed" >&2
	exit 1
fi
grep -q '"census":"ok"}' "$dir/ring.json"
echo "smoke: bench_ring ok ($rows cells)"
