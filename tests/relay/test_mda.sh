#!/usr/bin/env bash
# ccpump relay fed by a real mail delivery agent: Debian's procmail, as
# Postfix's local delivery runs it (mailbox_command), delivers demo messages
# into the spool as a Maildir (tmp/, then a rename into new/), four
# deliveries at a time, while the relay runs.  The relay made the spool on
# its first run and rescans only once an hour, so it learns of every file
# through inotify.  At the end every message is in the post office exactly
# once per recipient, the spool is empty, and nothing went to Bad: procmail
# delivers by link() into new/ and unlink() of its tmp/ name, which moves
# the file's ctime after it is in new/, and that is no change of the
# message.
# Skipped (status 77) where procmail is not installed; scripts/deps.sh
# installs it.
set -u
bin=$(realpath "$1")
command -v procmail >/dev/null || { echo "SKIP: procmail is not installed"; exit 77; }
work=$(mktemp -d)
trap 'kill -9 $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; [ -f "$work/log" ] && tail -20 "$work/log" >&2; exit 1; }
field() { "$bin" po stats --po "$1" | sed -n "s/^$2: *//p"; }

n=400
out=$("$bin" demo --dir "$work/src" --messages $n --spool-only) || fail "demo: status $?"
rcpts=$(printf '%s\n' "$out" | sed -n 's/.* MiB, \([0-9]*\) recipients.*/\1/p')
[ -n "$rcpts" ] || fail "demo printed no recipient count: $out"

"$bin" relay --spool "$work/spool" --store "$work/store" --po "$work/po" \
	--rescan-interval 3600 --stats-interval 1 --batch 16 2>"$work/log" &
relay=$!
for _ in $(seq 100); do
	grep -q "relay: spool $work/spool -> " "$work/log" && break
	sleep 0.1
done
grep -q "relay: spool $work/spool -> " "$work/log" || fail "the relay did not start"

printf 'DEFAULT=%s/spool/\nLOGFILE=%s/procmail.log\n' "$work" "$work" >"$work/rc"
ls "$work/src/spool/new" >"$work/files"
pids=()
for part in 0 1 2 3; do
	awk -v p=$part 'NR % 4 == p' "$work/files" | while read -r f; do
		procmail -m "$work/rc" <"$work/src/spool/new/$f" || exit 1
	done &
	pids+=($!)
done
for p in "${pids[@]}"; do
	wait "$p" || fail "procmail failed a delivery"
done
[ "$(grep -c '^  Folder: ' "$work/procmail.log")" = $n ] || fail "procmail did not deliver $n"

for _ in $(seq 600); do
	[ "$(field "$work/po" 'distinct keys')" = $n ] && break
	sleep 0.1
done
kill -TERM $relay
wait $relay || fail "relay: status $? after SIGTERM"

[ "$(field "$work/po" 'distinct keys')" = $n ] || fail "$(field "$work/po" 'distinct keys') of $n delivered"
[ "$(field "$work/po" 'duplicate deliveries')" = 0 ] || fail "duplicate deliveries"
[ "$(field "$work/po" 'delivered')" = "$rcpts" ] ||
	fail "$(field "$work/po" 'delivered') deliveries, not one for each of $rcpts recipients"
left=$(ls -A "$work/spool/new" "$work/spool/tmp" | grep -v -e "^$" -e ":$")
[ -z "$left" ] || fail "the spool is not empty: $left"
[ -z "$(ls -A "$work/store/Bad")" ] || fail "messages in Bad: $(ls "$work/store/Bad")"
! grep -q -e "changed after its delivery" -e "changed while it was read" "$work/log" ||
	fail "a delivery by link and unlink taken for a change: $(grep -m1 " changed " "$work/log")"
grep -q "info: batch " "$work/log" || fail "no batch line in the log"
echo "procmail delivered $n messages into the Maildir; the relay imported each once ($rcpts deliveries)"
echo "test_mda: ok"
