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
#
# iconv's converters are not libraries ldd sees: glibc loads them at run
# time from the folder it was built with (here /usr/lib/x86_64-linux-gnu/
# gconv), which another distribution lacks or fills with another glibc's.
# So the ones the relay needs go into DIR/lib/gconv with a gconv-modules
# that names only them, and the wrappers put that folder first in
# GCONV_PATH: CP437 and CP850 (IBM437.so, IBM850.so: src/ccmail/codepage.c),
# and the modules of this system's main gconv-modules (ISO-8859-1, -15,
# CP1252, UTF-16, UTF-32, UTF-7...), the charsets mail mostly comes in.
# UTF-8 and ASCII are built into glibc.  A charset outside these is
# converted only where the target machine has a converter at glibc's own
# folder.  The check at the end relays a demo spool with these.
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

# The iconv converters (see the top): glibc's folder is libdir/gconv, libdir
# the one its libc.so.6 is in (with /usr before it on merged-/usr systems).
libc=$(ldd "$build/ccpump" | awk '$1 == "libc.so.6" {print $3}')
gconv=
for g in "/usr$(dirname "$libc")/gconv" "$(dirname "$libc")/gconv"; do
	[ -f "$g/gconv-modules" ] && { gconv=$g; break; }
done
[ -n "$gconv" ] || { echo "portable.sh: no iconv modules next to $libc" >&2; exit 1; }
mkdir "$dir/lib/gconv"
# The main config as it is, with every module it names; of the other
# configs, the lines of CP437's and CP850's modules (a `module` line names
# its file in its 4th field) and the aliases that lead to them.
cp "$gconv/gconv-modules" "$dir/lib/gconv/"
for m in $( (awk '$1 == "module" {print $4}' "$gconv/gconv-modules"; echo IBM437; echo IBM850) | sort -u); do
	cp -L "$gconv/$m.so" "$dir/lib/gconv/"
done
for conf in "$gconv"/gconv-modules.d/*.conf; do
	[ -f "$conf" ] || continue
	awk '$1 == "module" && ($4 == "IBM437" || $4 == "IBM850") { print; keep[$2] = 1; next }
		$1 == "alias" { alias[$2] = $3 }
		END { for (a in alias) if (alias[a] in keep) print "alias\t" a "\t" alias[a] }' "$conf"
done >>"$dir/lib/gconv/gconv-modules"
for cs in IBM437// IBM850// ISO-8859-1//; do
	grep -q "^module[[:space:]]*$cs" "$dir/lib/gconv/gconv-modules" ||
		{ echo "portable.sh: no iconv module for $cs in $gconv" >&2; exit 1; }
done

for p in "${progs[@]}"; do
	name=$(basename "$p")
	cat >"$dir/$name" <<EOF
#!/bin/sh
# $name with its own libraries and loader (bench/portable.sh).
here=\$(cd "\$(dirname "\$0")" && pwd)
# iconv's converters of the same glibc, first (bench/portable.sh).
GCONV_PATH="\$here/lib/gconv\${GCONV_PATH:+:\$GCONV_PATH}"
export GCONV_PATH
exec "\$here/lib/$loader" --library-path "\$here/lib" "\$here/bin/$name" "\$@"
EOF
	chmod +x "$dir/$name"
done
"$dir/ccpump" bench --messages 100000 --no-progress >/dev/null ||
	{ echo "portable.sh: $dir/ccpump does not run" >&2; exit 1; }
# The relay, which converts to CP437 through the bundled converters: a demo
# spool relayed once, every file gone from it, and IBM437.so loaded from
# DIR/lib/gconv (the loader's LD_DEBUG=files names each file it opens).
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if ! "$dir/ccpump" demo --dir "$work/demo" --messages 300 --spool-only >"$work/demo.log" 2>&1 ||
	! LD_DEBUG=files "$dir/ccpump" relay --spool "$work/demo/spool" --store "$work/demo/store" \
		--po "$work/demo/po" --once --no-sync --stats-interval 0 >"$work/relay.log" 2>&1; then
	echo "portable.sh: $dir/ccpump demo or relay --once failed:" >&2
	tail -n 20 "$work"/*.log >&2
	exit 1
fi
[ -z "$(ls -A "$work/demo/spool/new")" ] ||
	{ echo "portable.sh: relay --once left mail in the spool" >&2; exit 1; }
grep -q "file=$dir/lib/gconv/IBM437.so" "$work/relay.log" ||
	{ echo "portable.sh: the relay did not load $dir/lib/gconv/IBM437.so" >&2; grep gconv "$work/relay.log" >&2; exit 1; }
echo "portable.sh: $dir: ccpump, bench_ring, $(find "$dir/lib" -maxdepth 1 -name '*.so*' | wc -l)" \
	"libraries and $(find "$dir/lib/gconv" -name '*.so' | wc -l) iconv modules," \
	"$(du -sh "$dir" | cut -f1); relay --once ok"
