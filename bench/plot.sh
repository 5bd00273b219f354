#!/usr/bin/env bash
# Plots the benchmark CSVs of a results folder with gnuplot, as SVG and PNG
# into the same folder:
#   ring-PxC.{svg,png}      Mops/s against burst, one line per queue, per
#                           producers:consumers ratio (from ring.csv); a
#                           stalled cell has no point, so its line has a gap
#   pump-SWEEP.{svg,png}    msgs/s against each swept parameter, lock-free
#                           against mutex (from pump.csv)
#   relay-SWEEP.{svg,png}   relay msgs/s against batch and dispatchers
#                           (from relay.csv)
# Usage: bench/plot.sh RESULTS_DIR
set -euo pipefail
dir=${1:?usage: bench/plot.sh RESULTS_DIR}
command -v gnuplot >/dev/null || {
	echo "plot: gnuplot not found (Debian: gnuplot-nox); no plots" >&2
	exit 1
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# gnuplot draws each series from a whitespace-separated file of its own.
svg() { # svg BASENAME: plot into BASENAME.svg
	printf 'set terminal svg size 800,500 dynamic noenhanced font "sans,12"; set output "%s.svg"\n' "$1"
}
png() { # png BASENAME: the same plot again into BASENAME.png
	printf 'set terminal pngcairo size 800,500 noenhanced font "sans,10"; set output "%s.png"; replot\n' "$1"
}

if [ -f "$dir/ring.csv" ]; then
	for ratio in $(awk -F, 'NR > 1 { print $2 "x" $3 }' "$dir/ring.csv" | sort -u -t x -k1,1n -k2,2n); do
		p=${ratio%x*} c=${ratio#*x}
		plot=""
		for q in $(awk -F, 'NR > 1 { print $1 }' "$dir/ring.csv" | awk '!seen[$0]++'); do
			awk -F, -v q="$q" -v p="$p" -v c="$c" \
				'NR > 1 && $1 == q && $2 == p && $3 == c && $11 == "ok" { print $4, $7 }' \
				"$dir/ring.csv" | sort -n >"$tmp/$q-$ratio.dat"
			[ -s "$tmp/$q-$ratio.dat" ] || continue
			plot+="${plot:+, }\"$tmp/$q-$ratio.dat\" using 1:2 with linespoints lw 2 title \"$q\""
		done
		if [ -z "$plot" ]; then
			echo "plot: ring $p:$c: every queue stalled or failed; no plot" >&2
			continue
		fi
		gnuplot <<-GP
			set title "Ring throughput, $p producers : $c consumers (median)"
			set xlabel "burst (items per call)"; set ylabel "Mops/s (items per second, millions)"
			set logscale x 2; set grid; set key outside right top; set yrange [0:*]
			$(svg "$dir/ring-$ratio")
			plot $plot
			$(png "$dir/ring-$ratio")
		GP
	done
fi

if [ -f "$dir/pump.csv" ]; then
	for sweep in $(awk -F, 'NR > 1 { print $1 }' "$dir/pump.csv" | awk '!seen[$0]++'); do
		if [ "$sweep" = mode ]; then
			awk -F, 'NR > 1 && $1 == "mode" { print NR, $2, $12 }' "$dir/pump.csv" >"$tmp/mode.dat"
			gnuplot <<-GP
				set title "Pump throughput by claim mode (base point)"
				set ylabel "msgs/s"; set format y "%.1s%c"; set grid ytics; set yrange [0:*]; set boxwidth 0.6
				set style fill solid 0.6; set key off
				$(svg "$dir/pump-mode")
				plot "$tmp/mode.dat" using 0:3:xtic(2) with boxes
				$(png "$dir/pump-mode")
			GP
			continue
		fi
		numeric=1
		awk -F, -v s="$sweep" 'NR > 1 && $1 == s && $2 !~ /^[0-9]+$/ { bad = 1 } END { exit bad }' \
			"$dir/pump.csv" || numeric=0
		plot=""
		for mode in lockfree mutex; do
			awk -F, -v s="$sweep" -v m="$mode" 'NR > 1 && $1 == s && $3 == m { print $2, $12 }' \
				"$dir/pump.csv" >"$tmp/$sweep-$mode.dat"
			[ -s "$tmp/$sweep-$mode.dat" ] || continue
			if [ $numeric = 1 ]; then
				plot+="${plot:+, }\"$tmp/$sweep-$mode.dat\" using 1:2 with linespoints lw 2 title \"$mode\""
			else
				plot+="${plot:+, }\"$tmp/$sweep-$mode.dat\" using 0:2:xtic(1) with linespoints lw 2 title \"$mode\""
			fi
		done
		logx=""
		case $sweep in batch | ring_size | dup_factor | pollers | dispatchers) logx="set logscale x 2" ;; esac
		[ $numeric = 1 ] || logx="set offsets 0.3, 0.3, 0, 0"
		gnuplot <<-GP
			set title "Pump throughput against ${sweep//_/ } (others at the base point)"
			set xlabel "${sweep//_/ }"; set ylabel "msgs/s"; set format y "%.1s%c"
			$logx
			set grid; set key outside right top; set yrange [0:*]
			$(svg "$dir/pump-$sweep")
			plot $plot
			$(png "$dir/pump-$sweep")
		GP
	done
fi
if [ -f "$dir/relay.csv" ]; then
	for sweep in batch dispatchers; do
		awk -F, -v s="$sweep" 'NR > 1 && $1 == s { print $2, $8 }' "$dir/relay.csv" >"$tmp/relay-$sweep.dat"
		[ -s "$tmp/relay-$sweep.dat" ] || continue
		gnuplot <<-GP
			set title "Relay throughput against ${sweep} (durable batches unless --no-sync)"
			set xlabel "${sweep}"; set ylabel "msgs/s"; set format y "%.1s%c"
			$( [ "$sweep" = batch ] && echo "set logscale x 2" )
			set grid; set key off; set yrange [0:*]
			$(svg "$dir/relay-$sweep")
			plot "$tmp/relay-$sweep.dat" using 1:2 with linespoints lw 2
			$(png "$dir/relay-$sweep")
		GP
	done
fi
ls "$dir"/*.png 2>/dev/null | sed 's/^/plot: /'
