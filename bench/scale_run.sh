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
# scale.tar.gz (every CSV and JSON, for bench/plot.sh here).  --quick: tiny
# counts, to check the script itself.
set -uo pipefail
tools=$(cd "${1:?usage: bench/scale_run.sh TOOLS OUT [--quick]}" && pwd)
out=${2:?usage: bench/scale_run.sh TOOLS OUT [--quick]}
quick=${3:-}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out/res"
sum=$out/summary.txt
: >"$sum"
say() { printf '%s\n' "$*" | tee -a "$sum"; }
field() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p"; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR) print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# Runs that were not exactly once (the engine's), or whose items were lost
# or doubled (the ring's), or a sweep that failed its own check: counted,
# said in the summary, and the script's status is 3 at the end.
bad=0
messages=4000000 items=4000000 reps=3 threads=1:1,2:2,4:4,8:8 sweepset=quick
t_engine=150 t_ring=150 t_pump=120 t_relay=120
if [ "$quick" = --quick ]; then
	messages=200000 items=200000 reps=1 threads=1:1,2:2 t_pump=60 t_relay=60
fi

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
			printf '%s\n' "$r" >>"$out/res/engine.jsonl"
			if [ "$(printf '%s' "$r" | field duplicates)/$(printf '%s' "$r" | field lost)" != 0/0 ]; then
				say "engine: $mode $p:$d NOT exactly once, or no report: ${r:-none}"
				bad=$((bad + 1))
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
say "== 2. ring: bench_ring --queues ccp_ring,rte_ring,ck_ring,wfcqueue,ccp_lockq --threads $threads --bursts 1,32 --reps $reps --items $items"
timeout $t_ring "$tools/bench_ring" --queues ccp_ring,rte_ring,ck_ring,wfcqueue,ccp_lockq \
	--threads "$threads" --bursts 1,32 --reps $reps --items $items --run-limit 20 --quiet "$out/res" ||
	say "ring: stopped after ${t_ring}s or failed (status $?)"
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
		say "ring: $lost cells lost or doubled items"
		bad=$((bad + lost))
	fi
fi

# 3 and 4. The sweeps, where python3 is there.
say ""
if command -v python3 >/dev/null; then
	say "== 3. pump sweeps: sweep.py --set $sweepset --scale 4"
	timeout $t_pump python3 "$here/pump/sweep.py" --set $sweepset --ccpump "$tools/ccpump" \
		--scale 4 "$out/res" >"$out/res/pump.txt" 2>&1 || {
		st=$?
		say "pump sweeps: stopped after ${t_pump}s or failed (status $st)"
		[ "$st" -eq 124 ] || bad=$((bad + 1))
	}
	tail -n 40 "$out/res/pump.txt" >>"$sum"
	say ""
	say "== 4. relay sweeps: relay/sweep.py --set $sweepset --scale 4"
	timeout $t_relay python3 "$here/relay/sweep.py" --set $sweepset --ccpump "$tools/ccpump" \
		--scale 4 "$out/res/relay" >"$out/res/relay.txt" 2>&1 || {
		st=$?
		say "relay sweeps: stopped after ${t_relay}s or failed (status $st)"
		[ "$st" -eq 124 ] || bad=$((bad + 1))
	}
	tail -n 30 "$out/res/relay.txt" >>"$sum"
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
	exit 3
fi
