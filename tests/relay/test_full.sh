#!/usr/bin/env bash
# ccpump relay when its disks fail it, on small tmpfs file systems mounted
# in a private mount namespace (needs root; skipped with status 77 without):
#   1. the file system of the store and the post office fills up while the
#      relay runs with --max-attempts 1: deliveries pause, nothing goes to
#      Bad, no attempt is counted; the file system grows, deliveries
#      resume: every message delivered exactly once, the spool empty; and
#      killed while paused, then restarted with room: the same;
#      and paused with the next try an hour away, resumed at once by
#      `queue --flush` once there is room;
#   2. only the post office's file system is full (the store elsewhere):
#      the same, through the post office's undone imports;
#   3. --once on a disk that stays full: exit status 75 past --retry-max,
#      every message delivered or still in the spool, nothing in Bad;
#   4. the spool on another file system than the store: a message that
#      cannot be converted still goes to Bad (copied across), a symbolic
#      link to Quarantine, and a directory, which cannot be copied, stays
#      in new/, reported once however often the spool is rescanned; a
#      message requeued from Bad is copied back across;
#   5. the user's inotify instances all but spent by another program: the
#      pollers that cannot watch rescan, with a warning;
#   6. a message delivered in part whose report to its sender cannot be
#      written (Partial/ full): postponed, not settled without its report;
#      given room, reported, not imported again; under --once with
#      --max-age passing, not sent to Bad but left in the spool (status
#      75), and reported by the next run (imported once more, its
#      delivered recipient skipped);
#   7. retries that --max-age ends while the store is full: the message
#      waits in the spool, not in Bad without its reason; given room, it
#      goes to Bad with it; and where its move to Bad then fails, its
#      failed marker keeps it from being imported after its report;
#   8. the store and the post office on a file system without O_DIRECT
#      (ramfs): batches written plainly, every message delivered once;
#   9. retries ended (--max-attempts 1) while Bad/ alone is full: the
#      message waits in the spool, said once a run however often a rescan
#      finds it; a restarted relay tries it once more (its marker keeps the
#      count), no more; given room, it goes to Bad.
#      Two undeliverable messages postponed while Bad/ is full: each
#      marker gives that reason, not the other message's recipient.
#  10. a report to a sender waiting out its backoff, its message requeued
#      and failed again, the store on a small ext4 that gives the new
#      report the old one's inode number: the new report is sent at once.
#  11. the store on another file system than the spool, with room for a
#      bad message's reason and report but not for its failed marker nor
#      its copy: the marker is held in memory, the report sent once, and
#      the message goes to Bad once there is room (it was converted and
#      reported again at each rescan); where it cannot leave new/ even
#      then (Bad/ immutable), its marker is written given room, and a
#      restart does not report it again; a relay that stops while it is
#      still held says so.
#  12. an undeliverable message whose reason Bad/ cannot take while
#      --max-age passes: it goes to Bad with the import's reason, not the
#      store's failure, and requeued once its recipient exists, it is
#      imported and delivered, not sent back to Bad on the old reason.
#  13. a spool file written to after its delivery while the store (on
#      another file system) is full: held out of the import, it goes to
#      Bad with its reason once there is room, never imported again.
set -u
bin=$(realpath "$1")
. "$(dirname "$0")/stats_lib.sh"
if [ -z "${CCPUMP_TEST_NS:-}" ]; then
	if [ "$(id -u)" != 0 ] || ! unshare -m --propagation private true 2>/dev/null; then
		echo "SKIP: needs root and unshare -m to mount small file systems"
		[ "${CI:-}" = true ] && exit 1 # CI runs as root: this is a failure there
		exit 77
	fi
	CCPUMP_TEST_NS=1 exec unshare -m --propagation private "$0" "$@"
fi
work=$(mktemp -d)
trap 'kill -9 $(jobs -p) 2>/dev/null; umount -l "$work"/*/fs "$work"/*/store/Partial "$work"/*/store/Bad "$work"/*/store 2>/dev/null; rm -rf "$work"' EXIT
log=
fail() { echo "FAIL: $*" >&2; [ -n "$log" ] && [ -f "$log" ] && tail -20 "$log" >&2; exit 1; }
field() { "$bin" po stats --po "$1" | sed -n "s/^$2: *//p"; }
small_fs() { # small_fs DIR SIZE: a tmpfs of SIZE at DIR
	mkdir -p "$1" && mount -t tmpfs -o "size=$2" tmpfs "$1" || fail "cannot mount a tmpfs at $1"
}
rcpts=
spool_of() { # spool_of DIR N: a demo spool of N messages in DIR/d; its recipients in $rcpts
	mkdir -p "$1"
	"$bin" demo --dir "$1/d" --messages "$2" --max-body 4000 --spool-only >"$1/demo.out" ||
		fail "demo spool"
	rcpts=$(sed -n 's/.* \([0-9]*\) recipients.*/\1/p' "$1/demo.out")
}
wait_for() { # wait_for SECONDS COMMAND...: until COMMAND succeeds
	local t=$1; shift
	for ((i = 0; i < t * 20; i++)); do "$@" && return 0; sleep 0.05; done
	return 1
}
spool_empty() { [ -z "$(ls -A "$1/new")" ]; }
# exactly_once PO SPOOL RCPTS N: N messages, RCPTS deliveries, no duplicate,
# the spool drained, nothing in Bad, no temporary file left in the store.
exactly_once() {
	[ "$(field "$1" 'distinct keys')" = "$4" ] || fail "$5: $(field "$1" 'distinct keys') of $4 messages"
	[ "$(field "$1" delivered)" = "$3" ] || fail "$5: $(field "$1" delivered) of $3 deliveries"
	[ "$(field "$1" 'duplicate deliveries')" = 0 ] || fail "$5: duplicate deliveries"
	spool_empty "$2" || fail "$5: $(ls "$2/new" | wc -l) messages left in the spool"
}
store_clean() { # store_clean STORE WHAT: nothing in Bad, no temporary left
	[ -z "$(ls -A "$1/Bad")" ] || fail "$2: $(ls "$1/Bad" | wc -l) entries in Bad: $(ls "$1/Bad" | head -3)"
	[ -z "$(ls -A "$1/Deferred" | grep '^\.tmp')" ] || fail "$2: temporary files left in Deferred"
}

# ---- 1. the store's and the post office's disk fills up ------------------
# on_full_disk DIR N STORE [flags]: a spool of N messages in DIR/d, the
# post office on a 1 MiB tmpfs at DIR/fs, the store at STORE (on it, or
# not), and a relay started on them in the background ($pid, its log in
# $log) with --max-attempts 1 and the flags.
on_full_disk() {
	d=$1
	spool_of "$d" "$2"
	local store=$3
	shift 3
	small_fs "$d/fs" 1m
	"$bin" po init --po "$d/fs/po" >/dev/null || fail "po init"
	log=$d/log
	"$bin" relay --spool "$d/d/spool" --store "$store" --po "$d/fs/po" --batch 32 \
		--max-attempts 1 --retry-min 0.05 --log "$log" "$@" &
	pid=$!
}
on_full_disk "$work/store-full" 1000 "$work/store-full/fs/store" --retry-max 0.2 \
	--stats-interval 0.2 --stats-file "$work/store-full/stats.json"
wait_for 60 grep -qs "deliveries paused: " "$log" || fail "store full: deliveries never paused"
wait_for 30 grep -qs "deliveries still paused" "$log" || fail "store full: no probe while paused"
paused_in_file() {
	stats_true "$d/stats.json" 's["state"] == "paused" and "No space left" in s["pause_reason"] and s["postponed"] > 0'
}
wait_for 10 paused_in_file || fail "store full: the stats file does not say paused: $(cat "$d/stats.json")"
[ -z "$(ls -A "$d/fs/store/Bad")" ] || fail "store full: messages went to Bad while paused"
left=$(ls "$d/d/spool/new" | wc -l)
[ "$left" -gt 0 ] || fail "store full: the spool drained on a full disk"
mount -o remount,size=256m "$d/fs" || fail "cannot grow the tmpfs"
wait_for 60 spool_empty "$d/d/spool" || fail "store full: the spool did not drain after the disk grew"
kill -TERM $pid
wait $pid || fail "store full: relay exited $? after SIGTERM"
exactly_once "$d/fs/po" "$d/d/spool" "$rcpts" 1000 "store full"
store_clean "$d/fs/store" "store full"
[ -z "$(ls -A "$d/fs/store/Deferred")" ] || fail "store full: markers left in Deferred"
grep -q "deliveries resumed after" "$log" || fail "store full: no line when deliveries resumed"
grep 'stats: ' "$log" | tail -1 | grep -q 'postponed [1-9]' || fail "store full: stats without postponed"
echo "1. store full: paused with $left of 1000 messages waiting, resumed, $rcpts deliveries exactly once"

# Killed (-9) while paused, then started again once there is room: every
# message once, and no deferral marker left behind (a postponed message's
# marker says "attempt 0").
on_full_disk "$work/kill-paused" 800 "$work/kill-paused/fs/store" --retry-max 0.2 --stats-interval 0
wait_for 60 grep -qs "deliveries still paused" "$log" || fail "kill paused: deliveries never paused"
kill -9 $pid
wait $pid 2>/dev/null
mount -o remount,size=256m "$d/fs" || fail "cannot grow the tmpfs"
"$bin" relay --spool "$d/d/spool" --store "$d/fs/store" --po "$d/fs/po" --once --stats-interval 0 \
	--log "$log" || fail "kill paused: the second run failed"
exactly_once "$d/fs/po" "$d/d/spool" "$rcpts" 800 "kill paused"
store_clean "$d/fs/store" "kill paused"
[ -z "$(ls -A "$d/fs/store/Deferred")" ] ||
	fail "kill paused: $(ls -A "$d/fs/store/Deferred" | wc -l) markers left in Deferred"
echo "1b. killed while paused, restarted with room: $rcpts deliveries exactly once, no marker left"

# Paused with the next probe an hour away, the disk given room: `queue
# --flush` has the relay try a batch at once, and deliveries resume.  One
# dispatcher: with two, the other's batch, in flight when the first met the
# full disk, could reach the post office and resume deliveries itself.
on_full_disk "$work/flush-paused" 400 "$work/flush-paused/fs/store" --retry-min 3600 \
	--retry-max 3600 --stats-interval 0 --dispatchers 1
wait_for 60 grep -qs "deliveries paused: .*next try in 3600.0 s" "$log" ||
	fail "flush paused: deliveries never paused"
mount -o remount,size=256m "$d/fs" || fail "cannot grow the tmpfs"
"$bin" queue --store "$d/fs/store" --flush >/dev/null || fail "flush paused: queue --flush failed"
wait_for 60 spool_empty "$d/d/spool" || fail "flush paused: deliveries did not resume"
grep -q "flush: retrying .*deliveries paused for [0-9]* s: trying a batch now" "$log" ||
	fail "flush paused: no log line"
kill -TERM $pid
wait $pid || fail "flush paused: relay exited $? after SIGTERM"
exactly_once "$d/fs/po" "$d/d/spool" "$rcpts" 400 "flush paused"
store_clean "$d/fs/store" "flush paused"
echo "1c. paused for an hour, the disk grown, queue --flush: resumed at once, $rcpts deliveries once"

# ---- 2. only the post office's disk is full ------------------------------
on_full_disk "$work/po-full" 1000 "$work/po-full/store" --once --retry-max 30 --stats-interval 0
# The first import to meet the full disk fails at its journal (nothing
# written yet: "post office not accessible") or later, at the store or a
# mailbox (what it wrote undone): which, depends on how full the disk was.
wait_for 60 grep -Eqs "deliveries paused: .*po/[^ ]*: (import failed, undone|post office not accessible): No space left" "$log" ||
	fail "po full: deliveries never paused on the post office's disk"
[ -z "$(ls -A "$d/store/Bad")" ] || fail "po full: messages went to Bad"
mount -o remount,size=256m "$d/fs" || fail "cannot grow the tmpfs"
wait $pid || fail "po full: relay --once exited $?"
exactly_once "$d/fs/po" "$d/d/spool" "$rcpts" 1000 "po full"
store_clean "$d/store" "po full"
echo "2. post office full: its imports undone and postponed, then $rcpts deliveries exactly once"

# ---- 3. --once on a disk that stays full ---------------------------------
on_full_disk "$work/once-full" 1000 "$work/once-full/fs/store" --once --retry-max 0.3 \
	--stats-interval 0
wait $pid
rc=$?
[ $rc = 75 ] || fail "once full: exit status $rc, not 75"
left=$(ls "$d/d/spool/new" | wc -l)
done_=$(field "$d/fs/po" 'distinct keys')
[ "$left" -gt 0 ] || fail "once full: nothing left in the spool"
[ $((left + done_)) = 1000 ] || fail "once full: $done_ delivered and $left waiting, not 1000"
[ "$(field "$d/fs/po" 'duplicate deliveries')" = 0 ] || fail "once full: duplicates"
store_clean "$d/fs/store" "once full"
grep -q "stopping; the messages stay in the spool" "$log" || fail "once full: no line saying why it stopped"
echo "3. --once on a full disk: exit 75, $done_ delivered, $left left in the spool, none in Bad"

# ---- 4. the spool on another file system ---------------------------------
d=$work/xdev
small_fs "$d/fs" 16m
spool=$d/fs/spool
mkdir -p "$spool/tmp" "$spool/new" "$spool/cur"
for i in 1 2 3; do
	printf 'From: a@example.org\r\nTo: alice@example.org\r\nSubject: %d\r\n\r\nhi\r\n' $i \
		>"$spool/new/1764288000.M${i}P9.xdev"
done
printf 'To: alice@example.org\r\nSubject: no sender\r\n\r\nhi\r\n' >"$spool/new/1764288000.MnofromP9.xdev"
ln -s /etc/passwd "$spool/new/1764288000.MlinkP9.xdev"
mkdir "$spool/new/1764288000.MdirP9.xdev"
log=$d/log
"$bin" relay --spool "$spool" --store "$d/store" --po "$d/po" --rescan-interval 0.05 \
	--stats-interval 0 --log "$log" &
pid=$!
wait_for 30 test -f "$d/store/Bad/1764288000.MnofromP9.xdev" || fail "xdev: not moved to Bad"
sleep 0.5 # ten rescans
[ "$(grep -c 'MdirP9.xdev is a directory and cannot be moved' "$log")" = 1 ] ||
	fail "xdev: the directory reported $(grep -c 'MdirP9.xdev is a directory' "$log") times, not once"
# Gone for ten rescans, then made again: a new entry, reported again (the
# relay keeps the names of stuck entries only while they stay).
rmdir "$spool/new/1764288000.MdirP9.xdev"
sleep 0.5
mkdir "$spool/new/1764288000.MdirP9.xdev"
sleep 0.5
kill -TERM $pid
wait $pid || fail "xdev: relay exited $?"
[ "$(field "$d/po" 'distinct keys')" = 3 ] || fail "xdev: the good messages"
cmp -s "$d/store/Bad/1764288000.MnofromP9.xdev" - <<<"$(printf 'To: alice@example.org\r\nSubject: no sender\r\n\r\nhi\r')" ||
	fail "xdev: Bad holds another text"
[ -s "$d/store/Bad/1764288000.MnofromP9.xdev.reason" ] || fail "xdev: no reason in Bad"
[ -L "$d/store/Quarantine/1764288000.MlinkP9.xdev" ] || fail "xdev: the link not quarantined"
[ "$(readlink "$d/store/Quarantine/1764288000.MlinkP9.xdev")" = /etc/passwd ] || fail "xdev: link target"
[ "$(ls -A "$spool/new")" = 1764288000.MdirP9.xdev ] || fail "xdev: new/ holds $(ls -A "$spool/new")"
[ "$(grep -c 'MdirP9.xdev is a directory and cannot be moved' "$log")" = 2 ] ||
	fail "xdev: the directory made again reported $(grep -c 'MdirP9.xdev is a directory' "$log") times in all, not twice"
[ -z "$(ls -A "$d/store/Bad" | grep '^\.tmp')" ] || fail "xdev: temporary copies left in Bad"
# Requeued from Bad across the file systems: copied through the spool's
# tmp/, the same octets in new/, nothing left behind in Bad or tmp/.  The
# copy keeps the file's owner and mode, as a rename would: a requeue run
# as root for a relay that runs as another user must not leave it a file
# of root's that it cannot read.
cp "$d/store/Bad/1764288000.MnofromP9.xdev" "$d/copy"
chown nobody:nogroup "$d/store/Bad/1764288000.MnofromP9.xdev"
chmod 0640 "$d/store/Bad/1764288000.MnofromP9.xdev"
"$bin" queue --spool "$spool" --store "$d/store" --requeue 1764288000.MnofromP9.xdev >/dev/null ||
	fail "xdev: requeue failed"
cmp -s "$d/copy" "$spool/new/1764288000.MnofromP9.xdev" || fail "xdev: requeued another text"
[ "$(stat -c '%U:%G %a' "$spool/new/1764288000.MnofromP9.xdev")" = "nobody:nogroup 640" ] ||
	fail "xdev: the requeued copy is $(stat -c '%U:%G %a' "$spool/new/1764288000.MnofromP9.xdev"), not nobody:nogroup 640"
[ -z "$(ls -A "$d/store/Bad")" ] || fail "xdev: left in Bad after the requeue: $(ls -A "$d/store/Bad")"
[ -z "$(ls -A "$spool/tmp")" ] || fail "xdev: the requeue left $(ls -A "$spool/tmp") in tmp/"
echo "4. spool on another file system: Bad and Quarantine by copy, a directory reported once while it stays, requeued by copy"

# ---- 5. the user's inotify instances all but spent -----------------------
# Another program of the relay's user holds all but two of the user's
# inotify instances: the first two pollers watch, the others rescan, with a
# warning, and everything is delivered once.  Run as nobody, so the
# instances spent are nobody's, not those of the tests running beside.
d=$work/inotify
mkdir -p "$d/spool/tmp" "$d/spool/new" "$d/spool/cur"
chmod 755 "$work"
chown -R nobody "$d"
for i in 1 2 3 4 5; do
	printf 'From: a@example.org\r\nTo: alice@example.org\r\nSubject: %d\r\n\r\nhi\r\n' $i \
		>"$d/spool/new/1764288000.M${i}P9.inotify"
done
chown nobody "$d/spool/new/"*
limit=$(cat /proc/sys/fs/inotify/max_user_instances)
runuser -u nobody -- python3 -c '
import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
held = [libc.inotify_init1(0) for _ in range(int(sys.argv[1]) - 2)]
if min(held) < 0:
	sys.exit("cannot take the instances: errno %d" % ctypes.get_errno())
open(sys.argv[2], "w").close()
time.sleep(60)
' "$limit" "$d/holding" 2>/dev/null &
holder=$!
wait_for 20 test -e "$d/holding" || fail "inotify: the holder did not take the instances"
log=$d/log
runuser -u nobody -- "$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --pollers 8 \
	--once --stats-interval 0 --log "$log"
rc=$?
kill $holder 2>/dev/null
wait $holder 2>/dev/null
[ $rc = 0 ] || fail "inotify: relay exited $rc: $(tail -2 "$log")"
grep -q "6 of 8 pollers meant to watch new/ have no inotify watch" "$log" ||
	fail "inotify: no warning: $(grep inotify "$log")"
[ "$(field "$d/po" 'distinct keys')" = 5 ] || fail "inotify: not 5 delivered"
echo "5. the user's inotify instances all but spent: 2 pollers watch, 6 rescan, 5 delivered once"

# ---- 6. the report on a partial delivery, with Partial/ full --------------
# Partial/ on a full tmpfs of its own.  M1 reaches alice; M2 reaches alice
# but not nobody, and its report cannot be written: M2 stays in the spool,
# postponed (not an attempt: --max-attempts 1 does not send it to Bad), and
# deliveries pause.  Given room, M2's report is written (M2 is not imported
# again), and the spool drains.
d=$work/partial-full
mkdir -p "$d/spool/tmp" "$d/spool/new" "$d/spool/cur" "$d/store"
printf 'From: s@example.org\r\nTo: alice@example.org\r\nSubject: 1\r\n\r\nhi\r\n' \
	>"$d/spool/new/1764288000.M1P9.part"
"$bin" convert "$d/spool/new/1764288000.M1P9.part" | sed -n 's/^To: //p' | tr -d '\r' >"$d/users"
"$bin" po init --po "$d/po" --users "$d/users" >/dev/null || fail "partial full: po init"
printf 'From: s@example.org\r\nTo: alice@example.org\r\nCc: nobody@example.org\r\nSubject: 2\r\n\r\nhi\r\n' \
	>"$d/spool/new/1764288000.M2P9.part"
small_fs "$d/store/Partial" 64k
dd if=/dev/zero of="$d/store/Partial/filler" bs=4k 2>/dev/null
log=$d/log
"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --max-attempts 1 --retry-min 0.05 \
	--retry-max 0.2 --stats-interval 0 --log "$log" &
pid=$!
wait_for 30 grep -qs "deliveries paused: cannot write .*/Partial/1764288000.M2P9.part.ndr: No space left" "$log" ||
	fail "partial full: deliveries never paused"
wait_for 10 grep -qs "deliveries still paused" "$log" || fail "partial full: no probe while paused"
[ "$(ls "$d/spool/new")" = 1764288000.M2P9.part ] ||
	fail "partial full: the spool holds $(ls "$d/spool/new" | tr '\n' ' ')"
[ -z "$(ls -A "$d/store/Bad")" ] || fail "partial full: sent to Bad: $(ls "$d/store/Bad")"
rm "$d/store/Partial/filler"
wait_for 30 spool_empty "$d/spool" || fail "partial full: M2 not delivered once there was room"
kill -TERM $pid
wait $pid || fail "partial full: relay exited $?"
grep -q 'Subject: Undeliverable to some recipients on cc:Mail: 1764288000.M2P9.part' \
	"$d/store/Partial/1764288000.M2P9.part.ndr" || fail "partial full: no report"
[ "$(field "$d/po" delivered)" = 2 ] || fail "partial full: $(field "$d/po" delivered) deliveries, not 2"
[ "$(field "$d/po" 'duplicate deliveries')" = 0 ] || fail "partial full: duplicate deliveries"
[ -z "$(ls -A "$d/store/Bad")" ] || fail "partial full: sent to Bad"
[ "$(field "$d/po" 'distinct keys')" = 2 ] || fail "partial full: $(field "$d/po" 'distinct keys') keys"
# The same outage under --once while --max-age passes (at once): M3,
# delivered in part, is no message for Bad.  It stays in the spool, with a
# line, and the run exits 75.  The next run, given room, imports it once
# more (a restart forgets what the last one knew: the post office skips
# alice), writes its report and drains the spool.
printf 'From: s@example.org\r\nTo: alice@example.org\r\nCc: nobody@example.org\r\nSubject: 3\r\n\r\nhi\r\n' \
	>"$d/spool/new/1764288000.M3P9.part"
dd if=/dev/zero of="$d/store/Partial/filler" bs=4k 2>/dev/null
"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --once --max-age 1e-6 \
	--retry-min 0.001 --retry-max 60 --stats-interval 0 --log "$d/log-once"
rc=$?
[ $rc = 75 ] || fail "partial once: exited $rc, not 75: $(tail -3 "$d/log-once")"
grep -q "message 1764288000.M3P9.part was delivered in part, and its report still cannot be written" \
	"$d/log-once" || fail "partial once: no line for M3"
grep -q "relay: 1 messages delivered in part are left in the spool" "$d/log-once" ||
	fail "partial once: no count of what was left"
[ "$(ls "$d/spool/new")" = 1764288000.M3P9.part ] ||
	fail "partial once: the spool holds $(ls "$d/spool/new" | tr '\n' ' ')"
[ -z "$(ls -A "$d/store/Bad")" ] || fail "partial once: sent to Bad: $(ls "$d/store/Bad")"
rm "$d/store/Partial/filler"
"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --once --stats-interval 0 \
	--log "$d/log-once" || fail "partial once: the next run exited $?"
spool_empty "$d/spool" || fail "partial once: M3 left in the spool"
[ -f "$d/store/Partial/1764288000.M3P9.part.ndr" ] || fail "partial once: no report"
[ "$(field "$d/po" delivered)" = 3 ] || fail "partial once: $(field "$d/po" delivered) deliveries, not 3"
[ "$(field "$d/po" 'duplicate deliveries')" = 0 ] || fail "partial once: duplicate deliveries"
echo "6. a partial delivery's report on a full disk: postponed, then reported once there was room; not sent to Bad past --max-age"

# ---- 7. retries that end while the store is full ---------------------------
# The spool and the store on one full tmpfs: the batch cannot be written,
# the message is postponed until --max-age ends its retries, and then its
# reason cannot be written either.  It waits in the spool (never in Bad
# without its reason); given room, a rescan finds it, and it goes to Bad
# with its reason (its lifetime is over), not to the post office.

# retries_withheld DIR NAME WHAT [PREPARE...]: a full tmpfs at DIR/fs with
# the spool and the store, one message NAME whose retries --max-age ends
# there; PREPARE runs before the message is put in new/; returns once the
# relay (pid in $pid, log in $log) says the message waits in the spool.
retries_withheld() {
	local name=$2 what=$3
	d=$1
	small_fs "$d/fs" 256k
	mkdir -p "$d/fs/spool/tmp" "$d/fs/spool/new" "$d/fs/spool/cur"
	"$bin" po init --po "$d/po" >/dev/null || fail "$what: po init"
	log=$d/log
	"$bin" relay --spool "$d/fs/spool" --store "$d/fs/store" --po "$d/po" --once \
		--stats-interval 0 --log "$log" || fail "$what: the first run failed"
	shift 3
	[ $# -eq 0 ] || "$@" || fail "$what: $*"
	printf 'From: s@example.org\r\nTo: alice@example.org\r\nSubject: 1\r\n\r\nhi\r\n' \
		>"$d/fs/spool/new/$name"
	dd if=/dev/zero of="$d/fs/filler" bs=4k 2>/dev/null
	"$bin" relay --spool "$d/fs/spool" --store "$d/fs/store" --po "$d/po" --max-age 1 \
		--retry-min 0.05 --retry-max 0.2 --rescan-interval 0.2 --stats-interval 0 \
		--log "$log" &
	pid=$!
	wait_for 30 grep -qs "message $name: retries ended after attempt 0 .* it waits in the spool until the store can take its reason" "$log" ||
		fail "$what: no line saying it waits"
}
retries_withheld "$work/retries-full" 1764288000.M1P9.full "retries full"
[ -f "$d/fs/spool/new/1764288000.M1P9.full" ] || fail "retries full: it left the spool"
[ -z "$(ls -A "$d/fs/store/Bad")" ] || fail "retries full: in Bad: $(ls -A "$d/fs/store/Bad")"
rm "$d/fs/filler"
wait_for 30 spool_empty "$d/fs/spool" || fail "retries full: not sent to Bad once there was room"
kill -TERM $pid
wait $pid || fail "retries full: relay exited $?"
[ "$(field "$d/po" 'distinct keys')" = 0 ] || fail "retries full: imported after its retries ended"
grep -q "^retries ended after attempt 0 (the last: " "$d/fs/store/Bad/1764288000.M1P9.full.reason" ||
	fail "retries full: Bad's reason: $(cat "$d/fs/store/Bad/1764288000.M1P9.full.reason" 2>&1)"
[ -f "$d/fs/store/Bad/1764288000.M1P9.full.ndr" ] || fail "retries full: no report"
echo "7. retries ended on a full store: the message waited in the spool, then went to Bad with its reason"

# The same, but given room its move to Bad fails (a folder holds its name
# there): its reason and report are written, so it must never be imported
# as new mail after; its failed marker in Delivered/ keeps it in new/,
# settled.  The record that sends it to Bad never read the file, and
# without a stamp no marker was written: the next rescan imported it.
name=1764288000.M1P9.unmovable
taken() { mkdir -p "$d/fs/store/Bad/$name" && echo x >"$d/fs/store/Bad/$name/x"; }
retries_withheld "$work/retries-full-unmovable" "$name" "retries unmovable" taken
rm "$d/fs/filler"
wait_for 30 test -f "$d/fs/store/Bad/$name.ndr" || fail "retries unmovable: no report"
wait_for 30 grep -qs "^failed" "$d/fs/store/Delivered/$name" ||
	fail "retries unmovable: no failed marker: $(cat "$d/fs/store/Delivered/$name" 2>&1)"
# Ten rescans at least, each of which used to import it.
sleep 2
kill -TERM $pid
wait $pid || fail "retries unmovable: relay exited $?"
[ "$(field "$d/po" 'distinct keys')" = 0 ] || fail "retries unmovable: imported after its report"
[ -f "$d/fs/spool/new/$name" ] || fail "retries unmovable: it left new/"
[ "$(grep -c "message $name to Bad: retries ended" "$log")" = 1 ] ||
	fail "retries unmovable: sent to Bad $(grep -c "message $name to Bad: retries ended" "$log") times"
echo "7b. the same, its move to Bad failing: marked failed in new/, never imported after its report"

# ---- 8. a store on a file system without O_DIRECT ------------------------
# ramfs has none on any kernel (tmpfs had none before Linux 6.6).  Such a
# file system refuses an O_DIRECT open only after it made the file: the
# batch must then be written plainly, not fail on its own empty file
# (O_EXCL) and pause deliveries for good.
d=$work/nodirect
mkdir -p "$d/fs"
mount -t ramfs ramfs "$d/fs" || fail "nodirect: cannot mount a ramfs"
spool_of "$d" 40
log=$d/log
"$bin" relay --spool "$d/d/spool" --store "$d/fs/store" --po "$d/fs/po" --once --stats-interval 0 \
	--log "$log" || fail "nodirect: relay exited $?"
exactly_once "$d/fs/po" "$d/d/spool" "$rcpts" 40 nodirect
store_clean "$d/fs/store" nodirect
[ -z "$(ls -A "$d/fs/store/Submit")" ] || fail "nodirect: left in Submit: $(ls "$d/fs/store/Submit")"
umount "$d/fs"
echo "8. a store without O_DIRECT: batches written plainly, every message delivered once"

# ---- 9. retries ended while Bad/ alone is full, over a restart -----------
# bad_full DIR WHAT [PO-INIT-ARGS...]: an empty spool, a post office (made
# with PO-INIT-ARGS) and a store at DIR ($d), the store's Bad/ a full tmpfs;
# the log in $log.
bad_full() {
	local what=$2
	d=$1
	shift 2
	mkdir -p "$d/spool/tmp" "$d/spool/new" "$d/spool/cur"
	"$bin" po init --po "$d/po" "$@" >/dev/null || fail "$what: po init"
	log=$d/log
	"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --once \
		--stats-interval 0 --log "$log" || fail "$what: the first run failed"
	small_fs "$d/store/Bad" 64k
	dd if=/dev/zero of="$d/store/Bad/filler" bs=4k 2>/dev/null
}
bad_full "$work/ended-bad-full" "bad full"
printf 'From: s@example.org\r\nTo: alice@example.org\r\nSubject: 1\r\n\r\nhi\r\n' \
	>"$d/spool/new/1764288000.M1P9.ended"
printf '#!/bin/sh\necho >>"%s/imports"\nexit 1\n' "$d" >"$d/import.sh"
chmod +x "$d/import.sh"
# (exec: run in the background, the relay is the job, not a shell around it)
ended() { exec "$bin" relay --spool "$d/spool" --store "$d/store" --import-cmd "$d/import.sh" \
	--max-attempts 1 --stats-interval 0 --log "$log" "$@"; }
(ended --once)
[ $? = 75 ] || fail "bad full: --once did not end with 75 while Bad was full"
# A restarted relay, left running: rescans find it again and again.
ended --rescan-interval 0.05 &
pid=$!
sleep 1 # twenty rescans
kill -TERM $pid
wait $pid || fail "bad full: the running relay exited $?"
[ "$(wc -l <"$d/imports")" = 2 ] || fail "bad full: imported $(wc -l <"$d/imports") times in two runs"
[ "$(grep -c "M1P9.ended: retries ended after attempt [12] .* it waits in the spool" "$log")" = 2 ] ||
	fail "bad full: the wait said $(grep -c "M1P9.ended: retries ended" "$log") times in two runs"
[ -f "$d/spool/new/1764288000.M1P9.ended" ] || fail "bad full: it left the spool"
rm "$d/store/Bad/filler"
(ended --once) || fail "bad full: the run with room failed"
[ -f "$d/store/Bad/1764288000.M1P9.ended" ] || fail "bad full: not in Bad once it had room"
grep -q "^retries ended after attempt 3 (the last: the import answered 1)" \
	"$d/store/Bad/1764288000.M1P9.ended.reason" ||
	fail "bad full: Bad's reason: $(cat "$d/store/Bad/1764288000.M1P9.ended.reason" 2>&1)"
[ "$(wc -l <"$d/imports")" = 3 ] || fail "bad full: $(wc -l <"$d/imports") imports in three runs"
umount "$d/store/Bad"
echo "9. retries ended while Bad was full: waited in the spool, said once a run, one more try a restart"

# Two undeliverable messages in one batch while Bad/ is full: each is
# postponed, and each one's Deferred/ marker says why it was: Bad/ could
# not take its own reason.  (Both markers used to carry the post office's
# first problem line, one message's unknown recipient.)
# The post office knows alice alone (her cc:Mail name as convert writes it).
printf 'From: s@example.org\r\nTo: alice@example.org\r\nSubject: u\r\n\r\nhi\r\n' \
	>"$work/alice"
"$bin" convert "$work/alice" | sed -n 's/^To: //p' | tr -d '\r' >"$work/alice-only"
bad_full "$work/undeliverable-bad-full" "undeliverable bad full" --users "$work/alice-only"
for i in 1 2; do
	printf 'From: s%d@example.org\r\nTo: ghost%d@example.org\r\nSubject: %d\r\n\r\nhi\r\n' \
		$i $i $i >"$d/spool/new/1764288000.M${i}P9.ghost"
done
"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --once --retry-min 0.1 \
	--retry-max 0.5 --stats-interval 0 --log "$log"
[ $? = 75 ] || fail "undeliverable bad full: --once did not end with 75 while Bad was full"
for i in 1 2; do
	m=$d/store/Deferred/1764288000.M${i}P9.ghost
	grep -q "^reason cannot write .*/Bad/1764288000.M${i}P9.ghost.reason: No space left on device" "$m" ||
		fail "undeliverable bad full: the marker of message $i: $(cat "$m" 2>&1)"
	! grep -q "ghost$((3 - i))" "$m" ||
		fail "undeliverable bad full: message $i's marker names the other's recipient: $(cat "$m")"
done
umount "$d/store/Bad"
echo "9b. two undeliverable messages postponed while Bad was full: each marker says Bad/ could not take it"

# A message refused at once (no From) while Bad/ is full, whose --max-age
# runs out during the outage: its reason and its report say the refusal,
# not the store's failure, which named the store's path to the sender.
bad_full "$work/refused-bad-full" "refused bad full"
printf 'Return-Path: <bob@example.org>\r\nTo: a@example.com\r\nSubject: s\r\n\r\nbody\r\n' \
	>"$d/spool/new/1764288000.M1P9.nofrom"
"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --max-age 1 --retry-min 0.2 \
	--retry-max 0.5 --rescan-interval 0.3 --stats-interval 0 --log "$log" &
pid=$!
wait_for 10 grep -qs "Bad/1764288000.M1P9.nofrom.reason: No space left on device" \
	"$d/store/Deferred/1764288000.M1P9.nofrom" || fail "refused bad full: not postponed"
# Past --max-age, while Bad/ is still full: its retries ended, it waits.
wait_for 10 grep -qs "1764288000.M1P9.nofrom: .*it waits in the spool until the store can take its reason" \
	"$log" || fail "refused bad full: its retries did not end while Bad was full"
rm "$d/store/Bad/filler"
wait_for 10 test -f "$d/store/Bad/1764288000.M1P9.nofrom" || fail "refused bad full: not in Bad"
kill -TERM $pid
wait $pid || fail "refused bad full: relay exited $?"
for f in reason ndr; do
	grep -q "refused: empty or missing From" "$d/store/Bad/1764288000.M1P9.nofrom.$f" ||
		fail "refused bad full: its .$f: $(cat "$d/store/Bad/1764288000.M1P9.nofrom.$f")"
	! grep -q "No space left" "$d/store/Bad/1764288000.M1P9.nofrom.$f" ||
		fail "refused bad full: its .$f gives the store's failure"
done
umount "$d/store/Bad"
echo "9c. refused while Bad was full, --max-age ended during it: the refusal is the reason, not the store"

# ---- 10. a report's backoff is not handed to a new report ----------------
# A report waiting out its backoff (an hour) whose message is requeued and
# fails again: the new report is sent at once.  On a fresh small ext4 the
# new report gets the freed inode number of the old one, so the bouncer
# must tell the two files apart by more than their inode number.
d=$work/report-ino
mkdir -p "$d/spool/tmp" "$d/spool/new" "$d/spool/cur" "$d/store" "$d/sent"
echo alice@example.org >"$d/users"
"$bin" po init --po "$d/po" --users "$d/users" >/dev/null || fail "report ino: po init"
truncate -s 16M "$d/ext4.img" && mkfs.ext4 -q -F "$d/ext4.img" ||
	fail "report ino: cannot make an ext4 image"
mount -o loop "$d/ext4.img" "$d/store" || fail "report ino: cannot mount an ext4 image"
cat >"$d/bounce.sh" <<EOS
#!/bin/sh
for a; do :; done
cat >"$d/sent/\$a"
[ -f "$d/down" ] && { rm "$d/sent/\$a"; exit 75; }
exit 0
EOS
chmod +x "$d/bounce.sh"
touch "$d/down"
log=$d/log
"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --stats-interval 0 \
	--bounce-cmd "'$d/bounce.sh'" --retry-min 3600 --retry-max 3600 --log "$log" &
pid=$!
printf 'From: s@example.org\r\nTo: nobody@example.org\r\nSubject: s\r\n\r\nhi\r\n' \
	>"$d/spool/tmp/1764288000.M1.ino"
mv "$d/spool/tmp/1764288000.M1.ino" "$d/spool/new/"
wait_for 10 grep -qs "M1.ino: the report to s@example.org was not sent" "$log" ||
	fail "report ino: the report was not tried"
# The report is queued, and may be tried, before the batch's end moves the
# message itself into Bad/: the requeue needs it there.
wait_for 10 test -f "$d/store/Bad/1764288000.M1.ino" || fail "report ino: the message not in Bad"
old=$(stat -c %i "$d/store/Bounce/1764288000.M1.ino")
rm "$d/down"
"$bin" queue --spool "$d/spool" --store "$d/store" --requeue 1764288000.M1.ino >/dev/null ||
	fail "report ino: requeue failed"
wait_for 10 test -f "$d/sent/s@example.org" ||
	fail "report ino: the new report (inode $(stat -c %i "$d/store/Bad/1764288000.M1.ino.ndr" 2>&1), the old one's $old) waited for the old one's backoff"
same=no
[ "$(stat -c %i "$d/store/Bad/1764288000.M1.ino.ndr")" = "$old" ] && same=yes
kill -TERM $pid
wait $pid || fail "report ino: the relay exited $?"
umount "$d/store"
echo "10. a requeued message's new report sent at once, not after the old one's backoff (same inode: $same)"

# ---- 11. a failed marker the full store cannot take ----------------------
# held_marker_relay DIR NAME WHAT: a spool and a store on a small file
# system, full but for room for a bad message's reason and report (a page
# each), none for its failed marker; message NAME (no From) put in the
# spool, and a relay started on it ($pid, its log $log) until it holds
# the marker in memory and has sent the report.  RESCAN, the relay's
# --rescan-interval, is 0.2 unless given.
held_marker_relay() {
	local d=$1 name=$2 what=$3 rescan=${4:-0.2}
	mkdir -p "$d/spool/tmp" "$d/spool/new" "$d/spool/cur" "$d/sent"
	small_fs "$d/fs" 1m
	"$bin" po init --po "$d/po" >/dev/null || fail "$what: po init"
	printf '#!/bin/sh\nfor a; do :; done\necho "$a" >>"%s/sent/all"\ncat >/dev/null\n' "$d" >"$d/bounce.sh"
	chmod +x "$d/bounce.sh"
	"$bin" relay --spool "$d/spool" --store "$d/fs/store" --po "$d/po" --once --stats-interval 0 \
		--log "$d/log0" || fail "$what: first run"
	dd if=/dev/zero of="$d/fs/filler" bs=4k 2>/dev/null
	truncate -s -8192 "$d/fs/filler"
	printf 'Sender: s@example.org\r\nTo: alice@example.org\r\nSubject: no From\r\n\r\nhi\r\n' \
		>"$d/spool/tmp/$name"
	mv "$d/spool/tmp/$name" "$d/spool/new/$name"
	log=$d/log
	"$bin" relay --spool "$d/spool" --store "$d/fs/store" --po "$d/po" --retry-min 0.2 \
		--retry-max 0.5 --rescan-interval "$rescan" --stats-interval 0 --bounce-cmd "$d/bounce.sh" \
		--log "$log" &
	pid=$!
	wait_for 10 grep -qs "Delivered/$name: No space left on device; held in memory" "$log" ||
		fail "$what: the marker was not held in memory"
	wait_for 10 test -s "$d/sent/all" || fail "$what: no report sent"
}
d=$work/marker-full
name=1764288000.M1P9.nofrom
held_marker_relay "$d" $name "marker full"
sleep 2 # ten rescans, each of which converted it and sent another report
rm "$d/fs/filler"
wait_for 10 test -f "$d/fs/store/Bad/$name" || fail "marker full: not moved to Bad given room"
kill -TERM $pid
wait $pid || fail "marker full: relay exited $?"
[ "$(wc -l <"$d/sent/all")" = 1 ] || fail "marker full: $(wc -l <"$d/sent/all") reports sent"
[ "$(grep -c "message $name to Bad" "$log")" = 1 ] ||
	fail "marker full: sent to Bad $(grep -c "message $name to Bad" "$log") times"
spool_empty "$d/spool" || fail "marker full: left in new/"
umount "$d/fs"
echo "11. a failed marker the full store cannot take: held in memory, reported once, to Bad given room"

# ---- 11b. a marker held in memory, written once the store has room ------
# As in 11, but Bad/ is made immutable as room comes back, so the file
# cannot leave new/: its marker, held in memory, is written to Delivered/
# at the next rescan, and a restart then keeps the message from being
# converted and reported again.  Given Bad/ back, it goes there.
d=$work/marker-late
name=1764288000.M2P9.nofrom
held_marker_relay "$d" $name "marker late"
chattr +i "$d/fs/store/Bad" || fail "marker late: chattr +i"
rm "$d/fs/filler"
wait_for 10 grep -qs "Delivered/$name: written, the marker held in memory until now" "$log" ||
	fail "marker late: the held marker was not written given room"
kill -TERM $pid
wait $pid || fail "marker late: relay exited $?"
[ "$(head -n 1 "$d/fs/store/Delivered/$name")" = failed ] ||
	fail "marker late: Delivered/$name: $(cat "$d/fs/store/Delivered/$name")"
! grep -q "marked in memory only" "$log" || fail "marker late: still held at the stop"
"$bin" relay --spool "$d/spool" --store "$d/fs/store" --po "$d/po" --once --stats-interval 0 \
	--bounce-cmd "$d/bounce.sh" --log "$d/log2" || fail "marker late: restart: status $?"
[ -e "$d/spool/new/$name" ] || fail "marker late: left new/ with Bad/ immutable"
chattr -i "$d/fs/store/Bad"
"$bin" relay --spool "$d/spool" --store "$d/fs/store" --po "$d/po" --once --stats-interval 0 \
	--bounce-cmd "$d/bounce.sh" --log "$d/log3" || fail "marker late: last run: status $?"
[ -f "$d/fs/store/Bad/$name" ] || fail "marker late: not in Bad given room"
[ "$(wc -l <"$d/sent/all")" = 1 ] || fail "marker late: $(wc -l <"$d/sent/all") reports sent"
spool_empty "$d/spool" || fail "marker late: left in new/"
umount "$d/fs"
echo "11b. a marker held in memory written once the store has room: a restart reports nothing again"

# ---- 11c. a relay that stops with a marker still held in memory ---------
# The store still full at the stop: the relay says, in its last lines, how
# many settled messages only memory kept from being reported again.
d=$work/marker-stop
name=1764288000.M3P9.nofrom
held_marker_relay "$d" $name "marker stop"
kill -TERM $pid
wait $pid || fail "marker stop: relay exited $?"
grep -q "spool $d/spool: 1 settled messages were marked in memory only" "$log" ||
	fail "marker stop: the stop did not say so: $(tail -3 "$log")"
umount "$d/fs"
echo "11c. a stop with a marker held in memory says so"

# ---- 11d. a marker held in memory, written at the stop ------------------
# Room comes back, Bad/ immutable so the file cannot leave new/, and the
# relay is stopped before a rescan (an hour away) could write the marker:
# the stop writes it, and a restart neither converts nor reports the
# message again.
d=$work/marker-at-stop
name=1764288000.M4P9.nofrom
held_marker_relay "$d" $name "marker at stop" 3600
chattr +i "$d/fs/store/Bad" || fail "marker at stop: chattr +i"
rm "$d/fs/filler"
kill -TERM $pid
wait $pid || { chattr -i "$d/fs/store/Bad"; fail "marker at stop: relay exited $?"; }
grep -q "Delivered/$name: written at the stop, the marker held in memory until now" "$log" ||
	{ chattr -i "$d/fs/store/Bad"; fail "marker at stop: not written at the stop: $(tail -3 "$log")"; }
! grep -q "marked in memory only" "$log" ||
	{ chattr -i "$d/fs/store/Bad"; fail "marker at stop: said to be in memory only"; }
"$bin" relay --spool "$d/spool" --store "$d/fs/store" --po "$d/po" --once --stats-interval 0 \
	--bounce-cmd "$d/bounce.sh" --log "$d/log2" ||
	{ chattr -i "$d/fs/store/Bad"; fail "marker at stop: restart: status $?"; }
chattr -i "$d/fs/store/Bad"
[ "$(head -n 1 "$d/fs/store/Delivered/$name")" = failed ] ||
	fail "marker at stop: Delivered/$name: $(cat "$d/fs/store/Delivered/$name")"
[ -e "$d/spool/new/$name" ] || fail "marker at stop: left new/ with Bad/ immutable"
[ "$(wc -l <"$d/sent/all")" = 1 ] || fail "marker at stop: $(wc -l <"$d/sent/all") reports sent"
umount "$d/fs"
echo "11d. a marker held in memory written at the stop: a restart reports nothing again"

# ---- 12. undeliverable while Bad/ cannot take it, past --max-age ---------
d=$work/unfailed-age
mkdir -p "$d/spool/tmp" "$d/spool/new" "$d/spool/cur"
for u in alice carol; do
	printf 'From: s@example.org\r\nTo: %s@example.org\r\nSubject: x\r\n\r\nhi\r\n' $u >"$d/probe"
	"$bin" convert "$d/probe" | sed -n 's/^To: //p' | tr -d '\r' >"$d/users.$u"
done
"$bin" po init --po "$d/po" --users "$d/users.alice" >/dev/null || fail "unfailed: po init"
printf '#!/bin/sh\nfor a; do :; done\necho "$a" >>"%s/sent"\ncat >/dev/null\n' "$d" >"$d/bounce.sh"
printf '#!/bin/sh\necho run >>"%s/imports"\nexec "%s" import --po "%s/po" "$1"\n' "$d" "$bin" "$d" \
	>"$d/import.sh"
chmod +x "$d/bounce.sh" "$d/import.sh"
"$bin" relay --spool "$d/spool" --store "$d/store" --import-cmd "$d/import.sh" --once \
	--stats-interval 0 --log "$d/log0" || fail "unfailed: first run"
chattr +i "$d/store/Bad" || fail "unfailed: chattr"
name=1764288000.M1P9.carol
printf 'From: s@example.org\r\nTo: carol@example.org\r\nSubject: 1\r\n\r\nhi\r\n' >"$d/spool/tmp/x"
mv "$d/spool/tmp/x" "$d/spool/new/$name"
log=$d/log
"$bin" relay --spool "$d/spool" --store "$d/store" --import-cmd "$d/import.sh" --max-age 1 \
	--retry-min 0.2 --retry-max 0.3 --rescan-interval 0.3 --stats-interval 0 \
	--bounce-cmd "$d/bounce.sh" --log "$log" &
pid=$!
wait_for 10 grep -qs "retries ended\|waits in the spool until the store" "$log" ||
	{ chattr -i "$d/store/Bad"; fail "unfailed: --max-age did not end its retries"; }
chattr -i "$d/store/Bad"
wait_for 10 test -f "$d/store/Bad/$name.reason" || fail "unfailed: not sent to Bad given room"
grep -q "unknown recipient" "$d/store/Bad/$name.reason" ||
	fail "unfailed: Bad's reason is not the import's: $(cat "$d/store/Bad/$name.reason")"
runs=$(wc -l <"$d/imports")
cat "$d/users.alice" "$d/users.carol" >"$d/po/users"
"$bin" queue --spool "$d/spool" --store "$d/store" --requeue "$name" >/dev/null ||
	fail "unfailed: requeue"
delivered_one() { [ "$(field "$d/po" delivered)" = 1 ]; }
wait_for 10 delivered_one ||
	fail "unfailed: requeued, not delivered: $(ls "$d/store/Bad") imports $(wc -l <"$d/imports") (were $runs)"
kill -TERM $pid
wait $pid || fail "unfailed: relay exited $?"
[ "$(wc -l <"$d/sent")" = 1 ] || fail "unfailed: $(wc -l <"$d/sent") reports sent"
echo "12. undeliverable past --max-age while Bad/ was unwritable: the import's reason; requeued, delivered"

# ---- 13. a file changed after its delivery while the store is full ------
d=$work/changed-full
mkdir -p "$d/spool/tmp" "$d/spool/new" "$d/spool/cur"
small_fs "$d/fs" 1m
"$bin" po init --po "$d/po" >/dev/null || fail "changed full: po init"
name=1764288000.M1P9.changed
cat >"$d/import.sh" <<EOS
#!/bin/sh
echo run >>"$d/runs"
"$bin" import --po "$d/po" "\$1" || exit \$?
if [ ! -f "$d/once" ]; then
	touch "$d/once"
	printf 'P.S. the second half\r\n' >>"$d/spool/new/$name"
	dd if=/dev/zero of="$d/fs/filler" bs=4k 2>/dev/null
fi
exit 0
EOS
chmod +x "$d/import.sh"
printf 'From: s@example.org\r\nTo: alice@example.org\r\nSubject: 1\r\n\r\nfirst half\r\n' \
	>"$d/spool/tmp/x"
mv "$d/spool/tmp/x" "$d/spool/new/$name"
log=$d/log
"$bin" relay --spool "$d/spool" --store "$d/fs/store" --import-cmd "$d/import.sh" \
	--retry-min 0.2 --retry-max 0.5 --rescan-interval 0.2 --stats-interval 0 --log "$log" &
pid=$!
wait_for 10 grep -qs "changed after its delivery" "$log" || fail "changed full: the change not seen"
sleep 2 # ten rescans, each of which imported it again
rm "$d/fs/filler"
wait_for 10 test -f "$d/fs/store/Bad/$name" || fail "changed full: not in Bad given room"
kill -TERM $pid
wait $pid || fail "changed full: relay exited $?"
[ "$(wc -l <"$d/runs")" = 1 ] || fail "changed full: imported $(wc -l <"$d/runs") times"
grep -q "changed after its delivery" "$d/fs/store/Bad/$name.reason" ||
	fail "changed full: Bad's reason: $(cat "$d/fs/store/Bad/$name.reason" 2>&1)"
grep -q "second half" "$d/fs/store/Bad/$name" || fail "changed full: Bad's copy lacks the change"
umount "$d/fs"
echo "13. a file changed after its delivery on a full store: held out of the import, to Bad given room"
