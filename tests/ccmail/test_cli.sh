#!/bin/sh
# test_cli: the ccpump convert, po and import commands end to end, and every
# exit code of import as a script or the pump sees it.
# usage: test_cli.sh PATH/TO/ccpump tests/data
set -u
CCPUMP=$1
DATA=$2
T=$(mktemp -d "${TMPDIR:-/tmp}/ccpump-cli-XXXXXX")
trap 'rm -rf "$T"' EXIT
export TZ=UTC
unset CCPUMP_PO_FAULT
fail() { echo "test_cli: FAILED: $*" >&2; exit 1; }
expect() { # expect CODE command...
	want=$1; shift
	"$@" >"$T/out" 2>"$T/err"; got=$?
	[ "$got" = "$want" ] || { cat "$T/err" >&2; fail "'$*' exited $got, not $want"; }
}

# usage errors: 2
expect 2 "$CCPUMP" convert
expect 2 "$CCPUMP" convert --codepage 1252 "$DATA/mixed.eml"
expect 2 "$CCPUMP" import "$DATA/mixed.eml"
expect 2 "$CCPUMP" po frobnicate
expect 2 "$CCPUMP" import --po "$T/po" --fault rate=7 x.ccm
expect 0 "$CCPUMP" convert --help
grep -q -- "--addr-buffer" "$T/out" || fail "convert --help lacks --addr-buffer"
# A bad flag: one line that names it as typed (a letter of a cluster, not
# the argument before it), and numbers in plain decimal only.
said() { # said TEXT: the last command's stderr is one line, holding TEXT
	[ "$(wc -l <"$T/err")" = 1 ] && grep -qF -- "$1" "$T/err" ||
		fail "expected one line saying '$1', got: $(cat "$T/err")"
}
expect 2 "$CCPUMP" import --po
said "ccpump import: option '--po' needs a value"
expect 2 "$CCPUMP" import --po "$T/po" -vx x.ccm
said "ccpump import: unknown option '-x'"
expect 2 "$CCPUMP" import --verbose=2 --po "$T/po" x.ccm
said "ccpump import: option '--verbose' takes no value"
expect 2 "$CCPUMP" po init --po "$T/never" --bogus
said "ccpump po init: unknown option '--bogus'"
[ ! -e "$T/never" ] || fail "po init made a post office despite a bad flag"
expect 2 "$CCPUMP" po stats --po
said "ccpump po stats: option '--po' needs a value"
expect 2 "$CCPUMP" po show -z
said "ccpump po show: unknown option '-z'"
expect 2 "$CCPUMP" convert -o
said "ccpump convert: option '-o' needs a value"
expect 2 "$CCPUMP" convert --addr-buffer +100 "$DATA/mixed.eml"
said "ccpump convert: --addr-buffer: '+100'"
expect 2 "$CCPUMP" convert --addr-buffer " 100" "$DATA/mixed.eml"
said "ccpump convert: --addr-buffer: ' 100'"
# --key names the X-Spool-Id line, which --no-spool-id leaves out.
expect 2 "$CCPUMP" convert --no-spool-id --key k1 "$DATA/mixed.eml"
said "ccpump convert: --key"
# --site wins over a --map's site line wherever it stands, as in the
# relay; an empty one is refused (EXSITE would stand in without a word).
printf 'site MAPSITE\n' >"$T/site.map"
for order in "--site CLI --map $T/site.map" "--map $T/site.map --site CLI"; do
	expect 0 "$CCPUMP" convert $order "$DATA/mixed.eml"
	grep -q " at CLI" "$T/out" && ! grep -q " at MAPSITE" "$T/out" ||
		fail "convert $order: the map's site won over --site"
done
expect 0 "$CCPUMP" convert --map "$T/site.map" "$DATA/mixed.eml"
grep -q " at MAPSITE" "$T/out" || fail "convert --map: its site line not used"
expect 2 "$CCPUMP" convert --site "" "$DATA/mixed.eml"
said "ccpump convert: --site: '' is not a site's name"

# --native-names: a native user by the local part alone, not by the
# display name the sender wrote; any other value is refused.
printf 'From: "Jones, Bob" <alice.smith@ccmail.example.com>\nTo: x@y.example\n\nhi\n' >"$T/named.eml"
expect 0 "$CCPUMP" convert --native ccmail.example.com=PO --native-names address "$T/named.eml"
grep -q "^From: Smith, Alice at PO" "$T/out" || fail "--native-names address: $(grep '^From' "$T/out")"
expect 0 "$CCPUMP" convert --native ccmail.example.com=PO "$T/named.eml"
grep -q "^From: Jones, Bob at PO" "$T/out" || fail "--native-names display: $(grep '^From' "$T/out")"
expect 2 "$CCPUMP" convert --native-names local "$T/named.eml"
said "ccpump convert: --native-names: 'local' is not display or address"

# convert: a message with a key, and a refusal named with its reason
expect 0 "$CCPUMP" convert --native ccmail.example.com=HUBPO1 -o "$T/Msg0001.ccm" \
	"$DATA/mixed.eml" "$DATA/envelope.eml"
grep -q "X-Spool-Id: mixed.eml" "$T/Msg0001.ccm" || fail "no X-Spool-Id line"
expect 1 "$CCPUMP" convert -o "$T/refused.ccm" "$DATA/gen/no-from.eml"
grep -q "no-from.eml: refused: empty or missing From" "$T/err" || fail "refusal reason"
# -o: a run that converts nothing leaves the file as it was, and one that
# converts writes it whole (a temporary name renamed over it).
echo precious >"$T/keep.ccm"
expect 1 "$CCPUMP" convert -o "$T/keep.ccm" "$T/no-such.eml"
[ "$(cat "$T/keep.ccm")" = precious ] || fail "convert -o: a failed run emptied the file"
grep -q "keep.ccm: left as it was" "$T/err" || fail "convert -o: $(cat "$T/err")"
expect 0 "$CCPUMP" convert -o "$T/keep.ccm" "$DATA/mixed.eml"
grep -q "X-Spool-Id: mixed.eml" "$T/keep.ccm" || fail "convert -o: not replaced"
[ -z "$(ls -A "$T" | grep '^\.tmp-')" ] || fail "convert -o: a temporary file left"
# The old file's mode stays; a symbolic link's target is written, the link
# kept; a fifo is written into, not replaced.
chmod 600 "$T/keep.ccm"
expect 0 "$CCPUMP" convert -o "$T/keep.ccm" "$DATA/mixed.eml"
[ "$(stat -c %a "$T/keep.ccm")" = 600 ] || fail "convert -o: mode $(stat -c %a "$T/keep.ccm"), not 600"
echo old >"$T/target.ccm"
ln -s target.ccm "$T/link.ccm"
expect 0 "$CCPUMP" convert -o "$T/link.ccm" "$DATA/mixed.eml"
[ -L "$T/link.ccm" ] && grep -q "X-Spool-Id: mixed.eml" "$T/target.ccm" ||
	fail "convert -o through a symbolic link: $(ls -l "$T/link.ccm")"
mkfifo "$T/fifo"
cat "$T/fifo" >"$T/from-fifo" &
expect 0 "$CCPUMP" convert -o "$T/fifo" "$DATA/mixed.eml"
wait
[ -p "$T/fifo" ] && grep -q "X-Spool-Id: mixed.eml" "$T/from-fifo" ||
	fail "convert -o into a fifo: $(ls -l "$T/fifo")"
expect 1 "$CCPUMP" convert -o "$T/" "$DATA/mixed.eml"
said "ccpump convert: $T/: cannot write: Is a directory"
# Standard output that cannot be written is a failure, named, by every
# command that reports there.
if [ -w /dev/full ]; then
	"$CCPUMP" convert "$DATA/mixed.eml" >/dev/full 2>"$T/err" && fail "convert into a full disk: status 0"
	said "ccpump convert: standard output: write failed: No space left on device"
fi
expect 0 "$CCPUMP" convert --no-spool-id "$DATA/mixed.eml"
grep -q "X-Spool-Id" "$T/out" && fail "--no-spool-id still wrote X-Spool-Id"

# 1: no such directory; 3: a directory that is not a post office
expect 1 "$CCPUMP" import --po "$T/missing" "$T/Msg0001.ccm"
mkdir "$T/notpo"
expect 3 "$CCPUMP" import --po "$T/notpo" "$T/Msg0001.ccm"
grep -q "not a post office" "$T/err" || fail "3 without its reason"

# 0: imported; again: skipped duplicates, still 0
expect 0 "$CCPUMP" po init --po "$T/po"
expect 3 "$CCPUMP" po init --po "$T/po"
expect 0 "$CCPUMP" import --po "$T/po" "$T/Msg0001.ccm"
grep -q "2 messages, 4 delivered, 0 skipped" "$T/out" || fail "first import counts: $(cat "$T/out")"
expect 0 "$CCPUMP" import --po "$T/po" "$T/Msg0001.ccm"
grep -q "0 delivered, 4 skipped duplicates" "$T/out" || fail "second import counts"
# a mailbox holds references; po show reads it back through the store
rcpt=$(tr -d '\r' <"$T/Msg0001.ccm" | sed -n 's/^To: //p' | head -1)
expect 0 "$CCPUMP" po show --po "$T/po" "$rcpt"
[ "$(grep -c "X-Spool-Id: mixed.eml" "$T/out")" = 1 ] || fail "po show: not the message once"
expect 1 "$CCPUMP" po show --po "$T/po" "Nobody at NOWHERE"
if [ -w /dev/full ]; then
	"$CCPUMP" po show --po "$T/po" "$rcpt" >/dev/full 2>"$T/err" && fail "po show into a full disk: status 0"
	said "ccpump po show: standard output: write failed: No space left on device"
	"$CCPUMP" po stats --po "$T/po" >/dev/full 2>"$T/err" && fail "po stats into a full disk: status 0"
	said "ccpump po: standard output: write failed: No space left on device"
	"$CCPUMP" --help >/dev/full 2>"$T/err" && fail "ccpump --help into a full disk: status 0"
	said "ccpump: standard output: write failed: No space left on device"
fi
# A letter of a cluster after a long option whose value was that letter is
# named as typed.
expect 2 "$CCPUMP" po init --po "$T/never" --keep-brackets -kv
said "ccpump po init: unknown option '-k'"
expect 2 "$CCPUMP" import --no-sync -Sv --po "$T/po" x.ccm
said "ccpump import: unknown option '-S'"
expect 2 "$CCPUMP" po stats --json -jh --po "$T/po"
said "ccpump po stats: unknown option '-j'"
for spec in rate=nan rate=0x1 "rate= 1" code=4294967297; do
	expect 2 "$CCPUMP" import --po "$T/po" --fault "$spec" x.ccm
	said "fault spec '$spec'"
done
# the first layout (a copy per mailbox) is refused with what to do
mkdir -p "$T/oldpo/mailboxes"
printf 'ccpump-po 1\nusers no\naddr_buffer 4096\nimport8 yes\n' >"$T/oldpo/po.conf"
expect 3 "$CCPUMP" import --po "$T/oldpo" "$T/Msg0001.ccm"
grep -q "old layout.*po init --po NEWDIR" "$T/err" || fail "old layout: no clear refusal"
# 1: the input cannot be read
expect 1 "$CCPUMP" import --po "$T/po" "$T/nope.ccm"

# 4: locked (injected by flag and by environment); 1 injected
expect 4 "$CCPUMP" import --po "$T/po" --fault rate=1,code=4 "$T/Msg0001.ccm"
expect 1 env CCPUMP_PO_FAULT="rate=1,code=1" "$CCPUMP" import --po "$T/po" "$T/Msg0001.ccm"
# 4: another holder of the lock (this shell, on fd 9) while import runs
exec 9>>"$T/po/po.lock"
flock -n 9 || fail "cannot take the lock for the test"
expect 4 "$CCPUMP" import --po "$T/po" "$T/Msg0001.ccm"
grep -q "locked by another import" "$T/err" || fail "4 without its reason"
grep -q "^ccpump import: $T/Msg0001.ccm: " "$T/err" || fail "4 without the input's name"
exec 9>&-
# 3 stops the run as 1 and 4 do, and --help says so: a damaged journal
# refuses every import, so the file after the first is not tried
expect 0 "$CCPUMP" import --help
grep -q "Files after one that answers 1, 3 or 4 are not imported" "$T/out" \
	|| fail "import --help: which answers stop the run"
printf 'ccpump-journal 9\nend\n' >"$T/po/import.journal"
expect 3 "$CCPUMP" import --po "$T/po" "$T/Msg0001.ccm" "$T/nope.ccm"
grep -q "import.journal: damaged" "$T/err" || fail "damaged journal: $(cat "$T/err")"
grep -q "nope.ccm" "$T/err" && fail "a file after an answer of 3 was imported"
rm "$T/po/import.journal"
# a slow import (delay_ms) still imports: here only duplicates, exit 0
expect 0 env CCPUMP_PO_FAULT="delay_ms=200" "$CCPUMP" import --po "$T/po" "$T/Msg0001.ccm"

# 5: undeliverable -> the .und file beside the input, with the reason
printf 'Message:\r\n\r\nFrom: A at B\r\nDate: 13/45/98 8:39\r\nTo: C at D\r\nContents:\r\n\r\n' >"$T/Msg0002.ccm"
expect 5 "$CCPUMP" import --po "$T/po" "$T/Msg0002.ccm"
grep -q "Unknown Date Format" "$T/Msg0002.und" || fail ".und lacks the reason"
# An input with no message at all (empty, or blank lines) is undeliverable
# too, and gets its .und with the reason as well.
for body in '' '\r\n\r\n'; do
	printf "$body" >"$T/Msg0003.ccm"
	rm -f "$T/Msg0003.und"
	expect 5 "$CCPUMP" import --po "$T/po" "$T/Msg0003.ccm"
	said "Msg0003.ccm: no message in the input"
	head -n 1 "$T/Msg0003.und" | grep -q "^Undeliverable: .*Msg0003.ccm: no message in the input" ||
		fail "an input with no message ('$body'): .und is '$(cat "$T/Msg0003.und" 2>&1)'"
done
# Its summary lost to a full disk: said, the import's own status kept.
if [ -w /dev/full ]; then
	rc=0
	"$CCPUMP" import --po "$T/po" -v "$T/Msg0002.ccm" >/dev/full 2>"$T/err" || rc=$?
	[ "$rc" = 5 ] || fail "undeliverable into a full disk: status $rc, not 5"
	[ "$(grep -c "^ccpump import: standard output: write failed" "$T/err")" = 1 ] ||
		fail "undeliverable into a full disk: $(cat "$T/err")"
fi

# a user directory: unknown recipients are undeliverable, known ones delivered
printf 'Doe, John at HUBPO1\nAdmin at HUBPO1\n' >"$T/users"
expect 0 "$CCPUMP" po init --po "$T/po2" --users "$T/users"
expect 5 "$CCPUMP" import --po "$T/po2" "$T/Msg0001.ccm"
grep -q "unknown recipient" "$T/err" || fail "unknown recipient reason"
grep -q "2 delivered" "$T/out" || fail "known recipients not delivered: $(cat "$T/out")"
# -v: one line per message, with its key and outcome
expect 5 "$CCPUMP" import -v --po "$T/po2" "$T/Msg0001.ccm"
grep -q "^  mixed.eml partial .*unknown recipient" "$T/out" || fail "-v: $(cat "$T/out")"
grep -q "^  envelope.eml undeliverable .*unknown recipient" "$T/out" || fail "-v: $(cat "$T/out")"

# stats: the counts, and no duplicate delivery ever
expect 0 "$CCPUMP" po stats --po "$T/po" --json
grep -q '"delivered": 4, "distinct_keys": 2, "duplicate_deliveries": 0, "skipped_duplicates": 8' "$T/out" \
	|| fail "stats: $(cat "$T/out")"
expect 3 "$CCPUMP" po stats --po "$T/notpo"
# A file is not a post office either: 3, in 3's words (1's are "not
# accessible").
expect 3 "$CCPUMP" po stats --po "$T/Msg0001.ccm"
said "ccpump po stats: $T/Msg0001.ccm: not a post office: not a directory"
expect 3 "$CCPUMP" import --po "$T/Msg0001.ccm" "$T/Msg0001.ccm"
grep -q "not a post office" "$T/err" || fail "import --po FILE: $(cat "$T/err")"
for bad in 12x K 100 -4M 99999999999999999999 +4K " 4K"; do
	expect 2 "$CCPUMP" po stats --po "$T/po" --memory "$bad"
	said "--memory: '$bad'"
done
expect 0 "$CCPUMP" po stats --po "$T/po" --memory 4K --tmp-dir "$T"

# po stats holds the post office's lock for its snapshot only, not while it
# counts: an import (which takes the lock) meanwhile is not refused as
# "locked".  A log of 600,000 deliveries counted through runs on disk takes
# a good part of a second; the lock must be free while stats still runs.
"$CCPUMP" po init --po "$T/big" >/dev/null || fail "po init big"
python3 - "$T/big/delivery.log" <<'PY' || fail "writing a big delivery.log"
import sys
with open(sys.argv[1], "w") as f:
    for i in range(600000):
        f.write("D\tMsg%06X.eml\tr %d at hub\tr_%d_at_hub.ccm\t1795882167\n" % (i // 3, i % 3, i % 3))
PY
"$CCPUMP" po stats --po "$T/big" --memory 64K --tmp-dir "$T" >"$T/bigstats" 2>&1 &
spid=$!
# Tries to take the lock every 5 ms while stats runs: a stats that held it
# to its end could lose it only in the moment before it exits.
free_while_running=0
while kill -0 $spid 2>/dev/null; do
	if flock -n "$T/big/po.lock" true && kill -0 $spid 2>/dev/null; then
		free_while_running=$((free_while_running + 1))
	fi
	sleep 0.005
done
wait $spid || fail "po stats on the big log: $(cat "$T/bigstats")"
grep -q "^delivered: *600000$" "$T/bigstats" || fail "po stats on the big log: $(cat "$T/bigstats")"
[ $free_while_running -ge 5 ] ||
	fail "po stats held the post office's lock while it counted (free $free_while_running times)"
echo "test_cli: ok"
