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
# message, nor is it a file still open for writing.  Then procmail is the
# relay's --bounce-cmd too: the reports on
# undeliverable messages, and on one delivered in part, land in their
# senders' Maildirs.
# Skipped (status 77) where procmail is not installed; scripts/deps.sh
# installs it.
set -u
bin=$(realpath "$1")
# Under CI, which installs it, its absence is a failure, not a skip.
command -v procmail >/dev/null || {
	echo "SKIP: procmail is not installed"
	[ "${CI:-}" = true ] && exit 1
	exit 77
}
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
# procmail closes its file before it links it into new/: never deferred as
# one still being written.
! grep -q "still open for writing" "$work/log" ||
	fail "a finished delivery taken for one still written: $(grep -m1 "still open" "$work/log")"
grep -q "info: batch " "$work/log" || fail "no batch line in the log"
echo "procmail delivered $n messages into the Maildir; the relay imported each once ($rcpts deliveries)"

# Reports to senders through the same delivery agent.  procmail delivers four
# messages for a recipient the post office does not know into a second
# spool, and a fifth for that one and a known one; the relay sends the four
# to Bad and delivers the fifth in part, and procmail, as its --bounce-cmd
# (where a mail system would give /usr/sbin/sendmail), files each report
# into its sender's Maildir.  formail, procmail's header tool, reads them
# back: one report per sender, to the return path, in reply to the message,
# marked auto-replied, from --bounce-from; none for the null return path.
b=$work/bounce
mkdir -p "$b/reports"
echo '"alice@example.org" [SMTP:alice@example.org] at EXSITE' >"$b/users"
"$bin" po init --po "$b/po" --users "$b/users" >/dev/null || fail "bounce: po init"
printf 'DEFAULT=%s/spool/\nLOGFILE=%s/procmail.log\n' "$b" "$b" >"$b/rc"
printf 'DEFAULT=%s/reports/$1/\nLOGFILE=%s/reports.log\n' "$b" "$b" >"$b/brc"
"$bin" relay --spool "$b/spool" --store "$b/store" --po "$b/po" --once --stats-interval 0 \
	--log "$b/log" || fail "bounce: the first run did not make the spool"
for i in 1 2 3 0; do
	rp="<s$i@example.org>"
	[ $i = 0 ] && rp="<>"
	printf 'Return-Path: %s\r\nFrom: "S %d" <s%d@example.org>\r\nTo: nobody@example.org\r\nSubject: to nobody %d\r\nMessage-ID: <m%d@example.org>\r\n\r\nhello\r\n' \
		"$rp" $i $i $i $i | procmail -m "$b/rc" || fail "bounce: procmail failed a delivery"
done
# A fifth reaches alice but not nobody: delivered in part, and reported.
printf 'Return-Path: <s4@example.org>\r\nFrom: s4@example.org\r\nTo: alice@example.org\r\nCc: nobody@example.org\r\nSubject: in part\r\nMessage-ID: <m4@example.org>\r\n\r\nhello\r\n' |
	procmail -m "$b/rc" || fail "bounce: procmail failed a delivery"
"$bin" relay --spool "$b/spool" --store "$b/store" --po "$b/po" --once --stats-interval 0 \
	--bounce-cmd "procmail -m '$b/brc'" --bounce-from postmaster@relay.example --log "$b/log" ||
	fail "bounce: relay status $?"
[ "$(ls "$b/store/Bad" | grep -vc -e '\.ndr$' -e '\.reason$')" = 4 ] || fail "bounce: not four messages in Bad: $(ls "$b/store/Bad")"
[ "$(ls "$b/reports")" = "$(printf 's%d@example.org\n' 1 2 3 4)" ] ||
	fail "bounce: reports filed for: $(ls "$b/reports" | tr '\n' ' ')"
for i in 1 2 3 4; do
	r=$(ls "$b/reports/s$i@example.org/new")
	[ "$(echo "$r" | wc -l)" = 1 ] || fail "bounce: s$i has $(echo "$r" | wc -l) reports"
	r=$b/reports/s$i@example.org/new/$r
	[ "$(formail -zx To: <"$r")" = "<s$i@example.org>" ] || fail "bounce: To: $(formail -zx To: <"$r")"
	[ "$(formail -zx In-Reply-To: <"$r")" = "<m$i@example.org>" ] ||
		fail "bounce: In-Reply-To: $(formail -zx In-Reply-To: <"$r")"
	[ "$(formail -zx Auto-Submitted: <"$r")" = auto-replied ] || fail "bounce: not marked auto-replied"
	formail -zx From: <"$r" | grep -qF "<postmaster@relay.example>" ||
		fail "bounce: From: $(formail -zx From: <"$r")"
	want=Undeliverable
	[ $i = 4 ] && want="Undeliverable to some recipients"
	formail -zx Subject: <"$r" | grep -qF "$want" || fail "bounce: Subject: $(formail -zx Subject: <"$r")"
	! grep -q $'\r' "$r" || fail "bounce: a CR in the report, which a Unix mail file ends its lines without"
done
[ -z "$(ls -A "$b/store/Bounce")" ] || fail "bounce: reports still queued: $(ls "$b/store/Bounce")"
[ "$(ls "$b/store/Partial" | wc -l)" = 1 ] || fail "bounce: Partial holds $(ls "$b/store/Partial")"
[ "$(field "$b/po" delivered)" = 1 ] || fail "bounce: $(field "$b/po" delivered) deliveries, not alice's one"
echo "procmail, as the bounce command, filed a report for each of 4 senders (none for <>), one on a partial delivery"
echo "test_mda: ok"
