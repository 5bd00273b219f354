#!/usr/bin/env bash
# The static build for machines without the packages (docs/performance.md,
# "Static binaries"): ccpump-bench and bench_ring link statically with the
# packages `make` installs, and run.  It once needed GMime's archives, and
# with them gpgme's, which nothing installs: the build failed, unseen.
#   tests/test_static.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1 out=$2
fail() { echo "FAIL: $*" >&2; exit 1; }
cmake -S "$src" -B "$out" -DCCPUMP_STATIC=ON -DBUILD_TESTING=OFF >"$out.log" 2>&1 ||
	{ cat "$out.log" >&2; fail "static build: cmake failed"; }
cmake --build "$out" -j 2 --target ccpump-bench bench_ring >>"$out.log" 2>&1 ||
	{ tail -30 "$out.log" >&2; fail "static build: ccpump-bench or bench_ring did not link"; }
for p in "$out/ccpump-bench" "$out/bench/bench_ring"; do
	# ldd answers "not a dynamic executable" (status 1) for a static one.
	if ldd "$p" >/dev/null 2>&1; then
		fail "$p is linked dynamically: $(ldd "$p" | tr '\n' ' ')"
	fi
done
json=$("$out/ccpump-bench" bench --messages 200000 --json --no-progress) ||
	fail "static ccpump-bench: bench exited $?"
grep -q '"exactly_once":true' <<<"$json" || fail "static ccpump-bench: not exactly once: $json"
grep -q '"allocator":"jemalloc' <<<"$json" || fail "static ccpump-bench: not on jemalloc: $json"
"$out/bench/bench_ring" --queues ccp_ring,ck_ring --threads 1:1 --bursts 32 --items 100000 \
	--reps 1 --quiet "$out/ring" || fail "static bench_ring: a run lost, doubled or reordered items"
grep -q '^ccp_ring,1,1,32,.*,ok$' "$out/ring/ring.csv" || fail "static bench_ring: $(cat "$out/ring/ring.csv")"
echo "static build: ccpump-bench and bench_ring linked statically, ran exactly once"
