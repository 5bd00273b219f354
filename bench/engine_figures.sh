#!/usr/bin/env bash
# The figures of docs/performance.md for the engine (issue 2), in one run:
# lockfree, mutex and naive interleaved (ABCABC...) so that machine noise hits
# every mode alike, then the idle pump, then a long run for memory.  Each run
# also gives the host's cache-line round trip between two CPUs, before and
# after it (src/base/hostprobe.c): the figure that tells a slow host apart.
#   bench/engine_figures.sh [REPS] [LONG_SECONDS]
set -euo pipefail
bin=${CCPUMP:-./build/ccpump}
reps=${1:-5}
long=${2:-60}
common=(--pollers 2 --dispatchers 2 --dup-factor 4 --batch 32 --messages 4000000 --json --no-progress)
field() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p"; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p')"
echo "command: $bin bench --mode MODE ${common[*]}"
declare -A rates dups
# Per pair i: its lock-free and mutex rates, and the largest round trip
# read around either run (a pair is only as quiet as its slowest reading).
declare -a pair_lf pair_mx pair_rt
bad=0 # lockfree and mutex runs not exactly once: the script fails at the end
for ((i = 1; i <= reps; i++)); do
	for mode in lockfree mutex naive; do
		rc=0
		out=$("$bin" bench --mode "$mode" "${common[@]}") || rc=$?
		r=$(printf '%s' "$out" | field msgs_per_sec)
		d=$(printf '%s' "$out" | field duplicates)
		l=$(printf '%s' "$out" | field lost)
		# The host's cache-line round trip before and after the run: a
		# slow host shows here, not only in the rate.
		rt=$(printf '%s' "$out" | sed -n 's/.*"host_round_trip_ns":{"before":\([0-9.nul]*\),"after":\([0-9.nul]*\)}.*/\1 \2/p')
		printf 'run %d %-8s %12.0f msgs/s  duplicates %6d  lost %d  host round trip %s ns\n' \
			"$i" "$mode" "$r" "$d" "$l" "${rt/ //}"
		if [ "$mode" != naive ] && [ "$rc/$d/$l" != 0/0/0 ]; then
			echo "run $i $mode: NOT exactly once (exit $rc)"
			bad=$((bad + 1))
		fi
		rates[$mode]+="$r "
		dups[$mode]+="$d "
		case $mode in
		lockfree) pair_lf[i]=$r ;;
		mutex) pair_mx[i]=$r ;;
		esac
		if [ "$mode" != naive ]; then
			for v in $rt; do
				[ "$v" = null ] && continue
				pair_rt[i]=$(awk -v a="${pair_rt[i]:-0}" -v b="$v" 'BEGIN {print (b > a ? b : a)}')
			done
		fi
	done
done
for mode in lockfree mutex naive; do
	m=$(printf '%s\n' ${rates[$mode]} | median)
	printf 'median %-8s %12.0f msgs/s   duplicates per run: %s\n' "$mode" "$m" "${dups[$mode]}"
	declare "med_$mode=$m"
done
awk -v a="$med_lockfree" -v b="$med_mutex" 'BEGIN {printf "lockfree / mutex = %.2f\n", a / b}'
# The same for the pairs whose round trips all stayed within twice the
# least one read: the host's quick phase, told apart from its slow one
# (about 60 ns against 400 ns on the machine of docs/performance.md).
for ((i = 1; i <= reps; i++)); do
	printf '%s %s %s\n' "${pair_lf[i]}" "${pair_mx[i]}" "${pair_rt[i]:-0}"
done | awk '{lf[NR]=$1; mx[NR]=$2; rt[NR]=$3; if ($3 > 0 && (lo == "" || $3 < lo)) lo = $3}
	function med(x, n,   i, j, t) {
		for (i = 2; i <= n; i++) for (j = i; j > 1 && x[j-1] > x[j]; j--) {t = x[j]; x[j] = x[j-1]; x[j-1] = t}
		return n % 2 ? x[(n+1)/2] : (x[n/2] + x[n/2+1]) / 2 }
	END {
		printf "pairs lockfree/mutex:"
		for (i = 1; i <= NR; i++) printf " %.2f", lf[i] / mx[i]
		printf "\n"
		if (lo == "") { print "pairs with the host at its quickest: round trip not measured"; exit }
		n = 0
		for (i = 1; i <= NR; i++) if (rt[i] > 0 && rt[i] <= 2 * lo) { n++; a[n] = lf[i]; b[n] = mx[i]; q[n] = lf[i] / mx[i] }
		printf "pairs with the host at its quickest (round trip at most %.0f ns, twice the least): %d of %d", 2 * lo, n, NR
		if (n) printf ", lockfree median %.0f, mutex median %.0f msgs/s, ratio median %.2f", med(a, n), med(b, n), med(q, n)
		printf "\n"
	}'

echo "idle: $bin bench --duration 10 --rate 10 --wait block --json"
out=$("$bin" bench --duration 10 --rate 10 --wait block --json --no-progress)
awk -v c="$(printf '%s' "$out" | field cpu_seconds)" -v s="$(printf '%s' "$out" | field seconds)" \
	'BEGIN {printf "idle pump: %.3f s of CPU in %.1f s = %.2f%% of one core\n", c, s, 100 * c / s}'

echo "memory: $bin bench --duration $long --json"
out=$("$bin" bench --duration "$long" --json --no-progress)
printf '%s' "$out" | sed -n 's/.*"allocated_bytes_per_second":\[\([0-9,]*\)\].*/\1/p' | tr ',' '\n' |
	awk '{v[NR]=$1/1048576} END {lo=1e18; hi=0; for (i=2;i<NR;i++) {if (v[i]<lo) lo=v[i]; if (v[i]>hi) hi=v[i]}
	     printf "allocated MiB, once a second (first and last left out): min %.1f max %.1f over %d samples\n", lo, hi, NR-2}'
printf 'long run: %s messages, duplicates %s, lost %s, %s msgs/s, peak rss %s bytes (check-off tables %s)\n' \
	"$(printf '%s' "$out" | field messages)" "$(printf '%s' "$out" | field duplicates)" \
	"$(printf '%s' "$out" | field lost)" "$(printf '%s' "$out" | field msgs_per_sec)" \
	"$(printf '%s' "$out" | field peak_rss_bytes)" "$(printf '%s' "$out" | field checkoff_bytes)"
if [ "$(printf '%s' "$out" | field duplicates)/$(printf '%s' "$out" | field lost)" != 0/0 ]; then
	bad=$((bad + 1))
fi
[ "$bad" -eq 0 ] || { echo "engine_figures: $bad runs were not exactly once" >&2; exit 3; }
