# relay_lib.sh: what the parts of the relay's end-to-end test share, sourced
# by each (test_relay_*.sh BIN): the binary, a temporary directory removed
# at the end, and helpers that make spools, messages and post offices and
# wait for what a running relay does.
set -u
bin=$(realpath "$1")
work=$(mktemp -d)
# Files made immutable by a test that failed are released first.
trap 'kill -9 $(jobs -p) 2>/dev/null; chattr -R -i "$work" 2>/dev/null; rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; [ -f "$work/log" ] && tail -20 "$work/log" >&2; exit 1; }
. "$(dirname "${BASH_SOURCE[0]}")/stats_lib.sh"
# stats_hold WHAT DIR EXPR: DIR/stats.json (a relay's --stats-file) holds
# the Python expression EXPR of its object s, or the test fails naming WHAT.
stats_hold() {
	stats_true "$2/stats.json" "$3" || fail "$1: the stats file is not $3: $(cat "$2/stats.json")"
}
field() { "$bin" po stats --po "$1" | sed -n "s/^$2: *//p"; }
# Some cases need the immutable attribute (chattr +i: root, and a file
# system that has it), birth times (statx's btime, as ext4 and tmpfs keep
# them) or /dev/shm on a file system of its own.  Where one is missing
# they are skipped, said on one line; under CI, whose machine has them
# all, that is a failure.
skip() { echo "SKIP: $*"; [ "${CI:-}" != true ] || fail "not run under CI: $*"; }
: >"$work/.probe"
if chattr +i "$work/.probe" 2>/dev/null; then
	chattr -i "$work/.probe"
else
	skip "chattr +i does not work here: the cases of files that cannot be moved or removed"
fi
rm -f "$work/.probe"

# gen SPOOL FIRST COUNT: messages of varied size and 1-3 recipients, written
# into tmp/ and renamed into new/, as an MTA delivers into a Maildir.
gen() {
	local spool=$1 first=$2 count=$3 i n body
	for ((i = first; i < first + count; i++)); do
		n=$((i % 3 + 1))
		{
			printf 'From: "Sender %d" <s%d@example.org>\r\n' "$i" $((i % 17))
			printf 'To: alice@example.org'
			[ $n -ge 2 ] && printf ', "Bob B" <bob@example.org>'
			[ $n -ge 3 ] && printf ', carol@example.org'
			printf '\r\nSubject: message %d\r\nDate: Sat, 28 Nov 2026 12:00:00 +0000\r\n\r\n' "$i"
			body=$(printf 'line of text for message %d\r\n' "$i")
			for ((k = 0; k < i % 9 + 1; k++)); do printf '%s' "$body"; done
		} >"$spool/tmp/m$i"
		mv "$spool/tmp/m$i" "$spool/new/1764288000.M${i}P77.test"
	done
}
# A bounce command that counts what it sends in DIR/sent (one line each),
# then runs the shell line EXTRA, if given.
counting_bounce() { # counting_bounce DIR [EXTRA]
	printf '#!/bin/sh\necho sent >>"%s/sent"\ncat >/dev/null\n%s\n' "$1" "${2:-}" >"$1/bounce.sh"
	chmod +x "$1/bounce.sh"
}
# An import program, DIR/import.sh, that counts its runs in DIR/imports,
# then imports into DIR/po.
counting_import() { # counting_import DIR
	printf '#!/bin/sh\necho >>"%s/imports"\nexec "%s" import --po "%s/po" "$1"\n' \
		"$1" "$bin" "$1" >"$1/import.sh"
	chmod +x "$1/import.sh"
}
# One --once run of the relay on DIR through its counting_import, new/
# made immutable by the caller and released should the run fail.
once_stuck() { # once_stuck DIR WHAT
	"$bin" relay --spool "$1/spool" --store "$1/store" --import-cmd "$1/import.sh" \
		--once --stats-interval 0 --log "$1/log" ||
		{ chattr -i "$1/spool/new"; fail "$2: relay failed"; }
}
# batch_sum LOG FIELD: FIELD (delivered, deferred) summed over the log's
# per-batch lines.
batch_sum() {
	sed -n "s/.* info: batch .*answered [0-9-]*: \(.*\); convert.*/\1/p" "$1" |
		grep -o "[0-9]* $2" | awk '{s += $1} END {print s + 0}'
}
recipients() { # deliveries expected for messages FIRST..FIRST+COUNT-1
	local first=$1 count=$2 i s=0
	for ((i = first; i < first + count; i++)); do s=$((s + i % 3 + 1)); done
	echo $s
}
fresh() { # fresh NAME [po init args]: spool, store and post office under $work/NAME
	local d="$work/$1"; shift
	mkdir -p "$d/spool/tmp" "$d/spool/new" "$d/spool/cur"
	"$bin" po init --po "$d/po" "$@" >/dev/null || fail "po init"
	echo "$d"
}
within10() { # within10 CMD...: until CMD succeeds, 10 s at most; its status
	for ((t = 0; t < 100; t++)); do
		"$@" && return 0
		sleep 0.1
	done
	"$@"
}
wait_deferred() { # wait_deferred DIR N: until `queue` shows N deferred (10 s at most), in $n
	for ((t = 0; t < 100; t++)); do
		n=$("$bin" queue --spool "$1/spool" --store "$1/store" --json |
			sed -n 's/.*"deferred":{"count":\([0-9]*\).*/\1/p')
		[ "$n" = "$2" ] && return 0
		sleep 0.1
	done
	return 1
}
wait_empty() { # wait_empty SPOOL SECONDS
	for ((t = 0; t < $2 * 10; t++)); do
		[ -z "$(ls -A "$1/new")" ] && return 0
		sleep 0.1
	done
	return 1
}
# users: a user directory that knows alice and bob only, in $work/users,
# written as `ccpump convert` names them (made on the first call).
users() {
	if [ ! -f "$work/users" ]; then
		local probe=$work/probe
		mkdir -p "$probe/tmp" "$probe/new"
		gen "$probe" 2 1
		"$bin" convert "$probe/new/"* | sed -n 's/^To: //p' | tr -d '\r' | grep -v carol \
			>"$work/users"
	fi
	echo "$work/users"
}
ino() { stat -c %i "$1" 2>/dev/null; }
