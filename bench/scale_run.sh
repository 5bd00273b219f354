#!/usr/bin/env bash
# The many-core figures of docs/performance.md in one run, for a machine that
# is lent for minutes and has none of the packages:
#
#   bench/portable.sh DIR                 here, after make build / make bench
#   bench/scale_run.sh DIR OUT [--quick]  there, from the source tree's root
#
# Stages run in order of importance, each under its own time limit, so a run
# cut short still holds the first ones:
#   1. the engine's target (issue 2): `ccpump bench` lock-free against mutex,
#      interleaved, with 2 and 8 pollers, and 8 pollers with 8 dispatchers;
#   2. the ring against its peers (issue 5): 1:1 to 8:8, bursts 1 and 32;
#   3. the pump's sweeps with thread counts scaled by 4 (needs python3);
#   4. the relay's sweeps over batch and dispatchers, scaled by 4 (python3).
# OUT gets summary.txt (the medians and ratios the targets name) and
# scale.tar.gz (every CSV and JSON, for bench/plot.sh here: tar -xzf it and
# run bench/plot.sh on its res/).  --quick: tiny counts, to check the
# script itself.
#
# Exit status: 0 all done and exactly once; 3 a run was not exactly once or
# a ring cell lost, doubled or reordered an item; 4 (if not 3) a stage or
# run did not finish: timed out, crashed, or gave no report; 2 no TOOLS.
set -uo pipefail
usage="usage: bench/scale_run.sh TOOLS OUT [--quick]"
[ -d "${1:?$usage}" ] || { echo "scale_run: no tools folder '$1' (bench/portable.sh makes it)" >&2; exit 2; }
tools=$(cd "$1" && pwd)
for t in ccpump bench_ring; do
	[ -x "$tools/$t" ] || { echo "scale_run: $tools/$t: missing (bench/portable.sh makes it)" >&2; exit 2; }
done
out=${2:?$usage}
quick=${3:-}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out/res"
sum=$out/summary.txt
: >"$sum"
say() { printf '%s\n' "$*" | tee -a "$sum"; }
field() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p"; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR) print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# bad: runs that were not exactly once (the engine's), ring cells whose items
# were lost, doubled or reordered, a sweep that failed its own check.
# broken: a stage or run that did not finish (timed out, crashed, no
# report), so its figures are missing, not wrong.  Both are said in the
# summary and set the script's status at the end.
bad=0 broken=0
messages=4000000 items=4000000 reps=3 threads=1:1,2:2,4:4,8:8 sweepset=quick
ring_limit=10 t_engine=150 t_pump=120 t_relay=120
if [ "$quick" = --quick ]; then
	messages=200000 items=200000 reps=1 threads=1:1,2:2 ring_limit=3 t_pump=60 t_relay=60
fi
ring_queues=ccp_ring,rte_ring,ck_ring,wfcqueue,ccp_lockq ring_bursts=1,32
# The ring stage's limit, from its cells: (reps + the warm-up) runs a cell,
# each allowed 2 s per 4M items (every queue moves more than 2 Mops/s when
# it does not stall), and one run limit and the watch after it (3 s) for
# each cell of rte_ring and ck_ring with more threads than CPUs, which may
# stall.  bench_ring writes its CSV after each group of cells, so a stage
# cut short keeps the groups it finished.
ring_cells=0 ring_stalls=0
for pc in ${threads//,/ }; do
	ring_cells=$((ring_cells + 5 * 2))
	if ((${pc%:*} + ${pc#*:} > $(nproc))); then ring_stalls=$((ring_stalls + 2 * 2)); fi
done
t_ring=$((ring_cells * (reps + 1) * 2 * ((items + 3999999) / 4000000) + ring_stalls * (ring_limit + 3) + 30))

say "machine: $(nproc) CPUs, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)," \
	"$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), Linux $(uname -r)"
say "started: $(date -u +%FT%TZ)"

# 1. The engine: the issue's command, modes interleaved so that noise hits
# both alike.  Each run has a limit of its own; the stage stops starting
# runs at its deadline.
deadline=$((SECONDS + t_engine))
engine_cell() { # POLLERS DISPATCHERS
	local p=$1 d=$2 mode rep r lf mx
	local -A rates=([lockfree]="" [mutex]="")
	for ((rep = 1; rep <= reps; rep++)); do
		for mode in lockfree mutex; do
			if ((SECONDS >= deadline)); then
				say "engine: the stage's ${t_engine}s are up; $p:$d has $((rep - 1)) of $reps pairs"
				break 2
			fi
			r=$(timeout 60 "$tools/ccpump" bench --mode $mode --pollers "$p" --dispatchers "$d" \
				--dup-factor 4 --batch 32 --messages $messages --json --no-progress)
			st=$?
			printf '%s\n' "$r" >>"$out/res/engine.jsonl"
			dl="$(printf '%s' "$r" | field duplicates)/$(printf '%s' "$r" | field lost)"
			if [ "$st" = 124 ]; then
				say "engine: $mode $p:$d timed out after 60 s: no figure"
				broken=$((broken + 1))
				continue
			elif [ "$dl" = / ]; then
				say "engine: $mode $p:$d gave no report (status $st): ${r:-nothing}"
				broken=$((broken + 1))
				continue
			elif [ "$dl" != 0/0 ]; then
				say "engine: $mode $p:$d NOT exactly once (duplicates/lost $dl): $r"
				bad=$((bad + 1))
				continue
			elif [ "$st" != 0 ]; then
				say "engine: $mode $p:$d exited $st after its report: no figure"
				broken=$((broken + 1))
				continue
			fi
			rates[$mode]+="$(printf '%s' "$r" | field msgs_per_sec) "
		done
	done
	lf=$(printf '%s\n' ${rates[lockfree]} | median)
	mx=$(printf '%s\n' ${rates[mutex]} | median)
	awk -v p="$p" -v d="$d" -v lf="${lf:-0}" -v mx="${mx:-0}" -v a="${rates[lockfree]}" \
		-v b="${rates[mutex]}" 'BEGIN {
		printf "engine %s pollers, %s dispatchers: lockfree %.2f M, mutex %.2f M msgs/s (medians), ratio %s\n", p, d, lf / 1e6, mx / 1e6, (mx > 0 ? sprintf("%.2f", lf / mx) : "n/a")
		printf "  lockfree runs: %s\n  mutex runs:    %s\n", a, b }' | tee -a "$sum"
}
say ""
say "== 1. engine: ccpump bench --mode MODE --pollers P --dispatchers D --dup-factor 4 --batch 32 --messages $messages"
engine_cell 2 2
engine_cell 8 2
engine_cell 8 8

# 2. The ring against its peers, unpinned (pinning is a flag of its own).
say ""
say "== 2. ring: bench_ring --queues $ring_queues --threads $threads --bursts $ring_bursts --reps $reps --items $items --run-limit $ring_limit (stage limit ${t_ring}s)"
timeout $t_ring "$tools/bench_ring" --queues $ring_queues --threads "$threads" \
	--bursts $ring_bursts --reps $reps --items $items --run-limit $ring_limit --quiet "$out/res"
st=$?
case $st in
0) ;;
1) ;; # cells that lost, doubled or reordered items: counted from the CSV below
124) say "ring: stopped at the stage's ${t_ring}s: the cells not in ring.csv were not run"
	broken=$((broken + 1)) ;;
*) say "ring: bench_ring failed (status $st; 127: not found, 2: could not run)"
	broken=$((broken + 1)) ;;
esac
if [ -f "$out/res/ring.csv" ]; then
	# ccp_ring over rte_ring at burst 32, over ck_ring at burst 1, per P:C.
	awk -F, 'NR > 1 { m[$1 "," $2 ":" $3 "," $4] = $7; pc[$2 ":" $3] = 1 }
		END { for (k in pc) {
			c32 = m["ccp_ring," k ",32"]; r32 = m["rte_ring," k ",32"]
			c1 = m["ccp_ring," k ",1"]; k1 = m["ck_ring," k ",1"]
			printf "ring %s: burst 32 ccp_ring %s / rte_ring %s Mops/s = %s; burst 1 ccp_ring %s / ck_ring %s = %s\n",
				k, c32, r32, (r32 > 0 ? sprintf("%.2f", c32 / r32) : "n/a"),
				c1, k1, (k1 > 0 ? sprintf("%.2f", c1 / k1) : "n/a") } }' \
		"$out/res/ring.csv" | sort | tee -a "$sum"
	lost=$(awk -F, 'NR > 1 && $11 != "ok" && $11 != "stalled"' "$out/res/ring.csv" | wc -l)
	if [ "$lost" -gt 0 ]; then
		say "ring: $lost cells lost, doubled or reordered items (census LOST or FAIL):"
		awk -F, 'NR > 1 && $11 != "ok" && $11 != "stalled" { print "  " $1, $2 ":" $3, "burst " $4, $11 }' \
			"$out/res/ring.csv" | tee -a "$sum"
		bad=$((bad + lost))
	fi
fi

# 3 and 4. The sweeps, where python3 is there.  A sweep's own check failing
# (its output says so) is bad; a timeout or an error is broken.
sweep_status() { # NAME STATUS LIMIT NOT-ONCE-TEXT WHAT-A-TIMEOUT-KEEPS
	case $2 in
	0) ;;
	124) say "$1 sweeps: stopped at the stage's $3s: $5"
		broken=$((broken + 1)) ;;
	*) if grep -q "$4" "$out/res/$1.txt"; then
			say "$1 sweeps: a run was NOT exactly once (status $2; $1.txt below)"
			bad=$((bad + 1))
		else
			say "$1 sweeps: failed (status $2; $1.txt below says why)"
			broken=$((broken + 1))
		fi ;;
	esac
}
say ""
if command -v python3 >/dev/null; then
	say "== 3. pump sweeps: sweep.py --set $sweepset --scale 4"
	timeout $t_pump python3 "$here/pump/sweep.py" --set $sweepset --ccpump "$tools/ccpump" \
		--scale 4 "$out/res" >"$out/res/pump.txt" 2>&1
	sweep_status pump $? $t_pump "were not exactly once" "pump.csv holds the points it finished"
	cat "$out/res/pump.txt" >>"$sum"
	say ""
	say "== 4. relay sweeps: relay/sweep.py --set $sweepset --scale 4"
	# Into res/ itself, next to the others, where bench/plot.sh looks.
	timeout $t_relay python3 "$here/relay/sweep.py" --set $sweepset --ccpump "$tools/ccpump" \
		--scale 4 "$out/res" >"$out/res/relay.txt" 2>&1
	sweep_status relay $? $t_relay "exactly once NO" "no relay.csv (the relay sweep writes it at the end)"
	cat "$out/res/relay.txt" >>"$sum"
else
	say "== 3, 4: no python3 here: sweeps skipped"
fi

say ""
say "ended: $(date -u +%FT%TZ)"
# Work folders of the relay sweep are not results.
find "$out/res" -type d \( -name spool -o -name store -o -name po -o -name work \) -prune \
	-exec rm -rf {} + 2>/dev/null
tar -C "$out" -czf "$out/scale.tar.gz" res && rm -rf "$out/res"
if [ "$bad" -gt 0 ]; then
	say "NOT EXACTLY ONCE: $bad runs or cells (above)"
fi
if [ "$broken" -gt 0 ]; then
	say "INCOMPLETE: $broken stages or runs did not finish (above); their figures are missing"
fi
[ "$bad" -eq 0 ] || exit 3
[ "$broken" -eq 0 ] || exit 4
