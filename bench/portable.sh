#!/usr/bin/env bash
# Packs ccpump and bench_ring, as built here, with every shared library they
# load and this system's dynamic loader, into one folder that runs on any
# x86-64 Linux machine, whatever it has installed:
#
#   bench/portable.sh DIR            (after `make build`; `make bench` first
#                                     for bench_ring with DPDK's rte_ring)
#   DIR/ccpump bench ...             wrappers that start each program
#   DIR/bench_ring ...               through DIR/lib/ld-linux-x86-64.so.2
#
# Unlike the static build (docs/performance.md), this keeps DPDK's rte_ring
# in bench_ring and the whole ccpump (relay, demo, post office), which
# cannot be linked statically on Debian.  Programs the relay starts by name
# (an --import-cmd, a --bounce-cmd) are the target machine's own.
set -euo pipefail
dir=${1:?usage: bench/portable.sh DIR}
build=${BUILD:-build}
progs=("$build/ccpump" "$build/bench/bench_ring")
for p in "${progs[@]}"; do
	[ -x "$p" ] || { echo "portable.sh: $p: not built (make build; make bench for rte_ring)" >&2; exit 2; }
done
[ "$(uname -m)" = x86_64 ] || { echo "portable.sh: builds for x86-64 only, this is $(uname -m)" >&2; exit 2; }

rm -rf "$dir"
mkdir -p "$dir/bin" "$dir/lib"
loader=
for p in "${progs[@]}"; do
	cp "$p" "$dir/bin/"
	# ldd lists "name => /path (addr)" for libraries and "/path (addr)" for
	# the loader; both are copied with links resolved.
	while read -r lib; do
		cp -L "$lib" "$dir/lib/"
		case $lib in */ld-linux-x86-64.so.2) loader=$(basename "$lib") ;; esac
	done < <(ldd "$p" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}')
done
[ -n "$loader" ] || { echo "portable.sh: no dynamic loader in ldd's list" >&2; exit 1; }

for p in "${progs[@]}"; do
	name=$(basename "$p")
	cat >"$dir/$name" <<EOF
#!/bin/sh
# $name with its own libraries and loader (bench/portable.sh).
here=\$(cd "\$(dirname "\$0")" && pwd)
exec "\$here/lib/$loader" --library-path "\$here/lib" "\$here/bin/$name" "\$@"
EOF
	chmod +x "$dir/$name"
done
"$dir/ccpump" bench --messages 100000 --no-progress >/dev/null ||
	{ echo "portable.sh: $dir/ccpump does not run" >&2; exit 1; }
echo "portable.sh: $dir: ccpump, bench_ring and $(ls "$dir/lib" | wc -l) libraries, $(du -sh "$dir" | cut -f1)"
