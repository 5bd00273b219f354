#!/usr/bin/env bash
# ccpump queue's actions on a store another user's relay runs on
# (relay_lib.sh holds what the relay's tests share):
#   1. `queue --resend-report` run as root on a store of the relay's user
#      that has no Bounce/ yet (a relay without --bounce-cmd): the Bounce/
#      it makes is the store owner's, and a relay of that user with
#      --bounce-cmd then sends the report.
#   2. names with control characters in the command's error lines: escaped
#      (\xHH), as in the listing, never sent to the terminal as they are.
#   3. `queue --delete` of a message whose report waits in Bounce/ and
#      which a crash left a Deferred/ marker: both go, each directory is
#      synced after its removal (Bounce/ before Bad/) and before the
#      command says it is done (seen with strace, where it is installed),
#      and a relay that sends reports sends none on it.
#   4. the listing: a note that is no regular file is not read (a FIFO
#      would hang it, a link show another file's line), and a marker that
#      is a directory is none, as for the relay; a report that is a FIFO
#      is refused by --resend-report and left in Bounce/ by the relay,
#      neither hanging in its open.
#   5. a spool that cannot be looked at: the error itself.
#   5b. a requeue refuses a spool whose new/ or tmp/ is a link.
#   6. a requeue: the queued report and the markers it removes are synced
#      before the message is back in new/ (strace, where installed).
#   7. a name shaped as a long name's record base (231 octets, '~', 16 hex
#      digits) has records of its own, which a delete of it leaves the
#      long name's.
#   8. a directory or a FIFO in Bad/ is no message: not counted, listed,
#      deleted or requeued; --delete-all and --requeue-all on a store that
#      is not there fail, naming it.
set -u
. "$(dirname "$0")/relay_lib.sh"

# undeliverable DIR NAME: a message from s@example.org to a recipient the
# post office does not know, in DIR's spool under NAME.
undeliverable() {
	printf 'From: s@example.org\r\nTo: nobody@example.org\r\nSubject: s\r\n\r\nhi\r\n' \
		>"$1/spool/tmp/$2"
	mv "$1/spool/tmp/$2" "$1/spool/new/$2"
}

# in_bad_reported TAG NAME: a fresh store (as $d) where message NAME is in
# Bad with its report queued in Bounce/ (the bounce program fails), and a
# Deferred/ marker of it, as a crash between marker and move leaves one.
in_bad_reported() {
	d=$(fresh "$1" --users "$(users)")
	counting_bounce "$d" "exit 75"
	undeliverable "$d" "$2"
	"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --once \
		--stats-interval 0 --bounce-cmd "$d/bounce.sh" --retry-min 0.05 \
		--retry-max 0.1 --log "$d/log" || fail "$1: relay failed"
	[ "$(ls "$d/store/Bounce")" = "$2" ] || fail "$1: the report is not queued"
	: >"$d/store/Deferred/$2"
}

# traced CALLS OUT CMD...: runs CMD under strace (the system calls CALLS,
# into $d/trace), its output into OUT.  LeakSanitizer cannot run under
# ptrace (the ASan build): off for this one command, whose leaks the other
# runs of it check.
traced() {
	local calls=$1 out=$2; shift 2
	ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" \
		strace -y -e trace="$calls" -o "$d/trace" "$@" >"$out"
}
# injected FAULT CMD...: runs CMD under strace with FAULT (CALL:error=E...)
# injected into its system call CALL; LeakSanitizer off, as in traced().
injected() {
	local fault=$1; shift
	ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" \
		strace -o /dev/null -e trace="${fault%%:*}" -e inject="$fault" "$@"
}
# at PATTERN: the line of $d/trace of the first call matching; 0: none.
at() { grep -n -m1 -e "$1" "$d/trace" | cut -d: -f1 | grep . || echo 0; }

# ---- 1. a resend as root, the relay as its own user ----------------------
if [ "$(id -u)" != 0 ] || ! command -v runuser >/dev/null; then
	skip "not root, or no runuser: a resend as root on a store of another user"
else
	# The relay runs as nobody, as the service runs as ccpump: everything
	# on the way to its store must be open to it.
	chmod 755 "$work"
	d=$(fresh owner --users "$(users)")
	counting_bounce "$d"
	chmod 755 "$d/bounce.sh"
	undeliverable "$d" 1764288000.Mown.test
	chown -R nobody:nogroup "$d"
	nrelay() { # nrelay LOG [ARGS]: one --once run of the relay as nobody
		local log=$1; shift
		runuser -u nobody -- "$bin" relay --spool "$d/spool" --store "$d/store" \
			--po "$d/po" --once --stats-interval 0 --log "$d/$log" "$@"
	}
	nrelay log || fail "owner: the relay as nobody exited $?"
	[ -f "$d/store/Bad/1764288000.Mown.test.ndr" ] ||
		fail "owner: the message has no report in Bad"
	[ ! -e "$d/store/Bounce" ] || fail "owner: a relay without --bounce-cmd made Bounce/"
	"$bin" queue --store "$d/store" --resend-report 1764288000.Mown.test >/dev/null ||
		fail "owner: --resend-report as root failed"
	[ "$(stat -c '%U:%G %a' "$d/store/Bounce")" = "nobody:nogroup 700" ] ||
		fail "owner: Bounce/ made by root is $(stat -c '%U:%G %a' "$d/store/Bounce")"
	nrelay log.bounce --bounce-cmd "$d/bounce.sh" || fail "owner: the relay as nobody with" \
		"--bounce-cmd exited $?: $(tail -1 "$d/log.bounce")"
	[ "$(cat "$d/sent" 2>/dev/null)" = sent ] || fail "owner: the report was not sent once"
	[ -z "$(ls -A "$d/store/Bounce")" ] || fail "owner: left queued: $(ls "$d/store/Bounce")"
	echo "1. a resend as root: Bounce/ is the store owner's, and the relay as nobody sends it"
fi

# ---- 2. control characters in the names of error lines ------------------
d=$(fresh escape --users "$(users)")
undeliverable "$d" "$(printf '1764288000.M\033[31mred.test')"
"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --once --stats-interval 0 \
	--log "$d/log" || fail "escape: relay failed"
red=$(printf '\033[31mred')
# Each action's refusals: a name not in Bad, not a plain name, a record's
# name, a message already in new/ (the message itself, in Bad), no report
# to resend, and a word that is no flag.
cp "$d/store/Bad/1764288000.M${red}.test" "$d/spool/new/"
q() { "$bin" queue --spool "$d/spool" --store "$d/store" "$@" 2>>"$d/err" >/dev/null; }
q --delete "a${red}x" --delete "a${red}/x" --delete "a${red}x.reason"
q --requeue "a${red}x" --requeue "1764288000.M${red}.test"
q --resend-report "a${red}x" --resend-report "a${red}/x"
q "a${red}x"
[ "$(grep -c . "$d/err")" = 8 ] || fail "escape: not one line per refusal: $(cat -v "$d/err")"
! tr -d '\n' <"$d/err" | LC_ALL=C grep -q '[[:cntrl:]]' ||
	fail "escape: a control character in an error line: $(cat -v "$d/err")"
[ "$(grep -cF 'a\x1b[31mredx' "$d/err")" -ge 4 ] ||
	fail "escape: the names not shown: $(cat "$d/err")"
echo "2. control characters in the names of error lines: escaped"

# ---- 3. a delete's removals synced -------------------------------------
in_bad_reported delete 1764288000.Mdel.test
del=("$bin" queue --store "$d/store" --delete 1764288000.Mdel.test)
if strace -o /dev/null true 2>/dev/null; then
	traced unlinkat,fsync,write "$d/del.out" "${del[@]}" ||
		fail "delete: --delete failed: $(cat "$d/del.out")"
	said=$(at '^write(1<')
	for dir in Bounce Deferred Bad; do
		gone=$(at "^unlinkat([0-9]*<[^>]*/store/$dir>, \"1764288000.Mdel.test\", 0) = 0")
		synced=$(at "^fsync([0-9]*<[^>]*/store/$dir>) = 0")
		[ "$gone" -gt 0 ] && [ "$synced" -gt "$gone" ] && [ "$said" -gt "$synced" ] ||
			fail "delete: $dir/ not synced before the answer: $(cat "$d/trace")"
		eval "synced_$dir=$synced"
	done
	[ "$synced_Bounce" -lt "$synced_Bad" ] ||
		fail "delete: Bad/ synced before Bounce/: $(cat "$d/trace")"
else
	skip "no strace (scripts/deps.sh installs it): the syncs of a delete, only its result"
	"${del[@]}" >"$d/del.out" || fail "delete: --delete failed: $(cat "$d/del.out")"
fi
grep -q "^1 messages deleted from .*/Bad$" "$d/del.out" || fail "delete: said $(cat "$d/del.out")"
left=$(find "$d/store/Bad" "$d/store/Bounce" "$d/store/Deferred" -mindepth 1)
[ -z "$left" ] || fail "delete: left behind: $left"
counting_bounce "$d"
rm -f "$d/sent"
"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --once --stats-interval 0 \
	--bounce-cmd "$d/bounce.sh" --log "$d/log" || fail "delete: the second relay failed"
[ ! -e "$d/sent" ] || fail "delete: a report was sent on the deleted message"
echo "3. a delete: the message, its records, queued report and marker gone, each synced"

# Every record a delete cannot remove is named: the line said only the
# last, and the others were left where no command shows them.
if strace -o /dev/null true 2>/dev/null; then
	in_bad_reported delete_left 1764288000.Mleft.test
	# unlinkat calls: 1 the message, 2 its .reason, 3 its .ndr.
	rc=0
	injected unlinkat:error=EIO:when=2..3 "$bin" queue --store "$d/store" \
		--delete 1764288000.Mleft.test >/dev/null 2>"$d/err" || rc=$?
	[ $rc = 1 ] || fail "delete left: exited $rc: $(cat "$d/err")"
	grep -q "1764288000.Mleft.test: removed, but not its record $d/store/Bad/1764288000.Mleft.test.reason: Input/output error; nor its record $d/store/Bad/1764288000.Mleft.test.ndr: Input/output error" \
		"$d/err" || fail "delete left: $(cat "$d/err")"
	echo "3b. a delete that leaves two records names both"
else
	skip "no strace (scripts/deps.sh installs it): a delete's failed removals"
fi

# ---- 4. the listing reads notes that are files, and markers as the relay --
# (The store is the relay's user's; the listing is an operator's, often
# root's.)  A FIFO as a message's reason does not hang it, a symbolic link
# as one does not print the file it points to; a Delivered/ marker that is
# a directory is no marker, as the relay takes it: the file is waiting.
d=$(fresh notes)
mkdir -p "$d/store/Bad" "$d/store/Delivered"
echo "a message" >"$d/store/Bad/1764288000.Mfifo.test"
mkfifo "$d/store/Bad/1764288000.Mfifo.test.reason"
echo "a message" >"$d/store/Bad/1764288000.Mlink.test"
echo "secret line of another file" >"$d/secret"
ln -s "$d/secret" "$d/store/Bad/1764288000.Mlink.test.reason"
gen "$d/spool" 0 1
mkdir "$d/store/Delivered/1764288000.M0P77.test"
out=$(timeout 20 "$bin" queue --spool "$d/spool" --store "$d/store" --list 10) ||
	fail "notes: queue exited $? (a FIFO as a reason hangs it?)"
printf '%s\n' "$out" | grep -q '1764288000.Mfifo.test' || fail "notes: the FIFO's message not listed: $out"
! printf '%s\n' "$out" | grep -q 'secret line' || fail "notes: a symlinked reason was read: $out"
json=$("$bin" queue --spool "$d/spool" --store "$d/store" --json)
printf '%s' "$json" | grep -q '"waiting":{"count":1,' ||
	fail "notes: a directory as a marker made the file not waiting: $json"
"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --once --stats-interval 0 \
	--log "$d/log" || fail "notes: relay failed"
[ "$(field "$d/po" 'distinct keys')" = 1 ] || fail "notes: the relay did not deliver the file"
echo "4. the listing: a FIFO or a link as a reason is not read, a directory as a marker is none"

# A report that is a FIFO (made by whoever owns the store) hung
# `queue --resend-report`, which root may run, in its open, and would hang
# the relay's report thread, and its stop with it, in Bounce/.
d=$(fresh fifo_ndr)
mkdir -p "$d/store/Bad" "$d/store/Bounce"
echo "a message" >"$d/store/Bad/1764288000.Mfifo.test"
mkfifo "$d/store/Bad/1764288000.Mfifo.test.ndr"
rc=0
timeout 20 "$bin" queue --store "$d/store" --resend-report 1764288000.Mfifo.test \
	2>"$d/err" >/dev/null || rc=$?
[ $rc = 1 ] || fail "fifo report: --resend-report exited $rc: $(cat "$d/err")"
grep -q "1764288000.Mfifo.test: its report $d/store/Bad/1764288000.Mfifo.test.ndr is not a regular file: not sent" \
	"$d/err" || fail "fifo report: $(cat "$d/err")"
[ -z "$(ls -A "$d/store/Bounce")" ] || fail "fifo report: queued: $(ls "$d/store/Bounce")"
mkfifo "$d/store/Bounce/1764288000.Mqueued.test"
counting_bounce "$d"
gen "$d/spool" 0 1
rc=0
timeout 20 "$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --once \
	--stats-interval 0 --bounce-cmd "$d/bounce.sh" --log "$d/log" || rc=$?
[ $rc = 0 ] || fail "fifo in Bounce: the relay exited $rc (hung in its open?)"
grep -q "message 1764288000.Mqueued.test: its queued report in $d/store/Bounce is not a regular file: not sent, left there" \
	"$d/log" || fail "fifo in Bounce: not said: $(cat "$d/log")"
[ ! -e "$d/sent" ] || fail "fifo in Bounce: a report was sent"
echo "4b. a report that is a FIFO: refused by --resend-report, left by the relay, neither hangs"

# A report whose queueing cannot be synced is not queued: the link, made
# but not synced, was left in Bounce/ while the command (or the relay,
# which then postpones the message's move to Bad) was told it failed, and
# a relay sent it all the same.
if strace -o /dev/null true 2>/dev/null; then
	in_bad_reported unsynced 1764288000.Mns.test
	rm -f "$d/store/Bounce/1764288000.Mns.test"
	rc=0
	injected fsync:error=EIO "$bin" queue --store "$d/store" \
		--resend-report 1764288000.Mns.test >/dev/null 2>"$d/err" || rc=$?
	[ $rc = 1 ] || fail "unsynced: --resend-report exited $rc: $(cat "$d/err")"
	grep -q "1764288000.Mns.test: cannot queue its report in $d/store/Bounce: Input/output error" \
		"$d/err" || fail "unsynced: $(cat "$d/err")"
	[ -z "$(ls -A "$d/store/Bounce")" ] ||
		fail "unsynced: left queued though it failed: $(ls "$d/store/Bounce")"
	echo "4c. a report whose queueing cannot be synced is not left queued"
else
	skip "no strace (scripts/deps.sh installs it): a queueing that cannot be synced"
fi

# ---- 5. a spool that cannot be looked at is said as it is ---------------
ln -s loop "$work/loop"
rc=0
"$bin" queue --spool "$work/loop" --store "$d/store" 2>"$work/loop.err" >/dev/null || rc=$?
[ $rc = 2 ] || fail "loop: queue exited $rc"
grep -q "spool $work/loop cannot be looked at: Too many levels of symbolic links" "$work/loop.err" ||
	fail "loop: $(cat "$work/loop.err")"
echo "5. a spool behind a loop of links: the error itself, not 'not a directory'"

# ---- 5b. new/ or tmp/ swapped for a link: the requeue refuses -----------
# Whoever may write the spool could make new/ (or tmp/) a link to any
# directory, and root's requeue renamed the message, text and name the
# writer's, into it (/etc/cron.d, say).  Refused, the message left in Bad.
for sub in new tmp; do
	in_bad_reported "link$sub" 1764288000.Mln.test
	mkdir "$d/target"
	mv "$d/spool/$sub" "$d/spool/$sub.real"
	ln -s "$d/target" "$d/spool/$sub"
	rc=0
	"$bin" queue --spool "$d/spool" --store "$d/store" --requeue 1764288000.Mln.test \
		>/dev/null 2>"$d/err" || rc=$?
	[ $rc = 1 ] || fail "link$sub: --requeue exited $rc: $(cat "$d/err")"
	grep -q "1764288000.Mln.test: cannot open $d/spool/$sub: Not a directory" "$d/err" ||
		fail "link$sub: $(cat "$d/err")"
	[ -z "$(ls -A "$d/target")" ] || fail "link$sub: requeued through the link: $(ls "$d/target")"
	[ -e "$d/store/Bad/1764288000.Mln.test" ] || fail "link$sub: not left in Bad"
done
echo "5b. new/ or tmp/ a link: a requeue refuses it, nothing moved through it"

# ---- 6. a requeue's changes synced before the message is in new/ --------
# Its queued report taken out of Bounce/, its markers in Deferred/ and
# Delivered/ removed: each made durable before the message enters new/,
# where a relay may take it at once (a crash could otherwise bring back the
# report, sent on a message going out again, or the failed marker, which
# sends it back to Bad).
in_bad_reported requeue 1764288000.Mrq.test
# The failed marker a crash between marker and move to Bad leaves.
mkdir -p "$d/store/Delivered"
: >"$d/store/Delivered/1764288000.Mrq.test"
rq=("$bin" queue --spool "$d/spool" --store "$d/store" --requeue 1764288000.Mrq.test)
if strace -o /dev/null true 2>/dev/null; then
	traced renameat,renameat2,unlinkat,fsync "$d/rq.out" "${rq[@]}" ||
		fail "requeue: --requeue failed: $(cat "$d/rq.out")"
	moved=$(at '^renameat2([0-9]*<[^>]*/store/Bad>, "1764288000.Mrq.test", [0-9]*<[^>]*/spool/new>')
	[ "$moved" -gt 0 ] || fail "requeue: no move into new/ seen: $(cat "$d/trace")"
	for dir in Bounce Deferred Delivered; do
		# The report is renamed aside, the markers removed.
		if [ $dir = Bounce ]; then
			changed=$(at "^renameat([0-9]*<[^>]*/store/$dir>, \"1764288000.Mrq.test\", ")
		else
			changed=$(at "^unlinkat([0-9]*<[^>]*/store/$dir>, \"1764288000.Mrq.test\", 0) = 0")
		fi
		synced=$(at "^fsync([0-9]*<[^>]*/store/$dir>) = 0")
		[ "$changed" -gt 0 ] && [ "$synced" -gt "$changed" ] && [ "$moved" -gt "$synced" ] ||
			fail "requeue: $dir/ not synced before the move into new/: $(cat "$d/trace")"
	done
else
	skip "no strace (scripts/deps.sh installs it): the syncs of a requeue, only its result"
	"${rq[@]}" >"$d/rq.out" || fail "requeue: --requeue failed: $(cat "$d/rq.out")"
fi
[ -f "$d/spool/new/1764288000.Mrq.test" ] || fail "requeue: the message is not in new/"
left=$(find "$d/store/Bad" "$d/store/Bounce" "$d/store/Deferred" "$d/store/Delivered" -mindepth 1)
[ -z "$left" ] || fail "requeue: left behind: $left"
echo "6. a requeue: report and markers gone, each synced before the message is in new/"

# ---- 7. a name of a long name's record shape has records of its own -----
# A name past 248 octets has its records named by its first 231 octets,
# '~' and a hash; a name of exactly that shape was kept whole, so both
# messages' records were one pair, and deleting one removed the other's.
d=$(fresh shapes --users "$(users)")
long=$(printf 'L%.0s' $(seq 255))
undeliverable "$d" "$long"
"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --once --stats-interval 0 \
	--log "$d/log" || fail "shapes: relay failed"
base=$(cd "$d/store/Bad" && ls | sed -n 's/\.reason$//p')
[ ${#base} = 248 ] || fail "shapes: the long name's record base is '$base'"
undeliverable "$d" "$base"
"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --once --stats-interval 0 \
	--log "$d/log" || fail "shapes: relay failed"
[ "$(ls "$d/store/Bad" | grep -c '\.reason$')" = 2 ] ||
	fail "shapes: not two reasons in Bad: $(ls "$d/store/Bad")"
"$bin" queue --store "$d/store" --delete "$base" >/dev/null || fail "shapes: --delete failed"
[ "$(ls "$d/store/Bad")" = "$(printf '%s\n%s\n%s' "$long" "$base.ndr" "$base.reason")" ] ||
	fail "shapes: the long name's records went with the other: $(ls "$d/store/Bad")"
echo "7. a name of a long name's record shape: records of its own, not the long name's"

# ---- 8. Bad/ holds messages, and a store must be there ------------------
# A directory or a FIFO made in Bad/ was counted and listed as a message,
# and every --delete-all or --requeue-all then failed on it; a mistyped
# store was "0 messages", status 0.
d=$(fresh bad_odd --users "$(users)")
undeliverable "$d" 1764288000.Modd.test
"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --once --stats-interval 0 \
	--log "$d/log" || fail "bad odd: relay failed"
mkdir "$d/store/Bad/archive"
mkfifo "$d/store/Bad/fifo"
json=$(timeout 20 "$bin" queue --spool "$d/spool" --store "$d/store" --json) ||
	fail "bad odd: the listing failed"
printf '%s' "$json" | grep -q '"bad":{"count":1,' || fail "bad odd: counted: $json"
out=$(timeout 20 "$bin" queue --spool "$d/spool" --store "$d/store" --list 10)
! printf '%s\n' "$out" | grep -qE 'archive|fifo' || fail "bad odd: listed: $out"
out=$(timeout 20 "$bin" queue --store "$d/store" --delete-all 2>&1) ||
	fail "bad odd: --delete-all exited $?: $out"
[ "$out" = "1 messages deleted from $d/store/Bad" ] || fail "bad odd: $out"
[ -d "$d/store/Bad/archive" ] && [ -p "$d/store/Bad/fifo" ] || fail "bad odd: removed what is no message"
for act in "--delete-all" "--spool $d/spool --requeue-all"; do
	rc=0
	# shellcheck disable=SC2086
	"$bin" queue --store "$d/no-such-store" $act >"$d/out" 2>"$d/err" || rc=$?
	[ $rc = 1 ] || fail "missing store: $act exited $rc"
	grep -q "store $d/no-such-store: no such directory" "$d/err" ||
		fail "missing store: $act: $(cat "$d/err")"
done
echo "8. Bad/'s directories and FIFOs are no messages; an action on a missing store fails"

echo "test_queue_ops: ok"
