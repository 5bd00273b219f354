#!/usr/bin/env bash
# ccpump relay end to end, on temporary directories:
#   1. exactly once with 4 pollers while inotify and 50 ms rescans race;
#   2. import answers 1 and 4 injected, then 3 and 5 from an import program
#      and a user directory: deferred and retried, or to Bad with a reason,
#      and requeued from Bad once the recipient is known; retry limits that
#      count an earlier run's attempts and age; `queue --flush`; the pace
#      of --profile ccmc; an import program's list of undeliverables;
#      messages delivered in part, their reports in Partial/; the
#      records of names too long to take a suffix;
#   3. bad spool entries (symlink, fifo, directory, empty, huge, binary)
#      moved aside with their reasons while the relay goes on; a spool file
#      changed after its import kept in Bad, not removed, and never
#      without its reason (waiting in new/ while Bad cannot take either);
#      a delivered one
#      that cannot be removed marked delivered, never imported again, and a
#      new file put under its name on its inode number relayed as new;
#   4. a crash loop: kill -9 at random moments while files keep arriving
#      and delivery.log is rotated, restart, many times; then every message
#      is in the post office exactly once per recipient, nothing lost, the
#      spool empty; a SIGHUP's reopened log; a rescan out of descriptors;
#   5. bad flags and unusable directories (status 2, one line naming the
#      flag), and a first run that makes the spool, the store and the post
#      office.
set -u
bin=$(realpath "$1")
work=$(mktemp -d)
shm= # a directory on /dev/shm, for a spool on another file system
# Files made immutable by a test that failed are released first.
trap 'kill -9 $(jobs -p) 2>/dev/null; chattr -R -i "$work" 2>/dev/null; rm -rf "$work" ${shm:+"$shm"}' EXIT
fail() { echo "FAIL: $*" >&2; [ -f "$work/log" ] && tail -20 "$work/log" >&2; exit 1; }
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

# ---- 1. racing notifications -------------------------------------------
d=$(fresh race)
"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --pollers 4 --dispatchers 3 --pin \
	--batch 16 --rescan-interval 0.05 --stats-interval 0.5 --stats-file "$d/stats.json" --log "$d/log" &
pid=$!
for b in 0 1 2 3 4 5 6 7 8 9; do gen "$d/spool" $((b * 150)) 150; sleep 0.05; done
# A second relay on the same store, or the same spool, is refused (status
# 2, naming the first's pid) and touches nothing of the running one.
for second in "--store $d/store --spool $d/spool2" "--store $d/store2 --spool $d/spool"; do
	"$bin" relay $second --po "$d/po" --once 2>"$d/second.err"
	rc=$?
	[ $rc = 2 ] || fail "race: a second relay ($second) exited $rc, not 2"
	grep -q "is in use by another ccpump relay" "$d/second.err" ||
		fail "race: the second relay's refusal: $(cat "$d/second.err")"
	case $second in --store\ $d/store\ *)
		grep -q "(pid $pid)" "$d/second.err" || fail "race: the store's refusal without the pid"
	esac
done
wait_empty "$d/spool" 60 || fail "race: spool not drained"
kill -TERM $pid
wait $pid || fail "race: relay exited $? after SIGTERM"
[ "$(field "$d/po" 'duplicate deliveries')" = 0 ] || fail "race: duplicate deliveries"
[ "$(field "$d/po" 'distinct keys')" = 1500 ] || fail "race: not 1500 messages"
[ "$(field "$d/po" delivered)" = "$(recipients 0 1500)" ] || fail "race: deliveries"
supp=$(grep -o 'duplicate notifications suppressed [0-9]*' "$d/log" | tail -1 | awk '{print $4}')
[ "${supp:-0}" -gt 0 ] || fail "race: no duplicate notification was ever suppressed"
grep -q 'stopping: finishing the batches in flight' "$d/log" || fail "race: no graceful stop in the log"
grep 'stats: ' "$d/log" | tail -1 | grep -q 'msgs/s, delivered 1500, .*waiting in ring 0, in flight 0, deferred now 0' ||
	fail "race: the last stats line does not show 1500 delivered and nothing left"
grep -q 'stats: [1-9][0-9]* msgs/s' "$d/log" || fail "race: no stats line with a rate"
python3 - "$d/stats.json" <<'PY' || fail "race: the stats file: $(cat "$d/stats.json")"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["state"] == "done" and s["delivered"] == 1500 and s["waiting_in_ring"] == 0, s
assert s["duplicate_notifications_suppressed"] > 0 and s["paused_seconds"] == 0, s
PY
[ "$(batch_sum "$d/log" delivered)" = 1500 ] ||
	fail "race: the per-batch lines count $(batch_sum "$d/log" delivered) delivered, not 1500"
# The same counts from the least memory: sorted runs in a temporary directory.
"$bin" po stats --po "$d/po" --json >"$d/stats.mem" || fail "race: po stats"
"$bin" po stats --po "$d/po" --json --memory 4K --tmp-dir "$d" >"$d/stats.disk" ||
	fail "race: po stats --memory 4K"
grep -q '"spill_runs": 0}' "$d/stats.mem" || fail "race: default stats spilled: $(cat "$d/stats.mem")"
grep -q '"spill_runs": [1-9]' "$d/stats.disk" || fail "race: 4K stats did not spill: $(cat "$d/stats.disk")"
[ "$(sed 's/, "spill_runs.*//' "$d/stats.mem")" = "$(sed 's/, "spill_runs.*//' "$d/stats.disk")" ] ||
	fail "race: stats differ with --memory 4K: $(cat "$d/stats.mem") / $(cat "$d/stats.disk")"
echo "1. race: 1500 messages, $(field "$d/po" delivered) deliveries, $supp duplicate notifications suppressed"

# More pollers than watch new/ with inotify (8): the rest find files by
# their rescans, and everything is delivered once.
d=$(fresh manypollers)
gen "$d/spool" 0 200
"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --pollers 40 --once \
	--stats-interval 0 --log "$d/log" || fail "many pollers: relay failed: $(tail -2 "$d/log")"
! grep -q "have no inotify watch" "$d/log" || fail "many pollers: took more inotify instances than 8"
[ "$(field "$d/po" 'distinct keys')" = 200 ] || fail "many pollers: not 200 delivered"
[ "$(field "$d/po" 'duplicate deliveries')" = 0 ] || fail "many pollers: duplicates"
echo "1b. 40 pollers, 8 of them watching: 200 delivered once"

# ---- 2. import answers ---------------------------------------------------
for code in 1 4; do
	d=$(fresh "fault$code")
	gen "$d/spool" 0 300
	CCPUMP_PO_FAULT="rate=0.5,code=$code,seed=$code" "$bin" relay --spool "$d/spool" \
		--store "$d/store" --po "$d/po" --once --batch 8 --retry-min 0.01 --retry-max 0.05 \
		--stats-interval 0 --log "$d/log" || fail "fault $code: relay failed"
	grep -q "answered $code" "$d/log" || fail "fault $code: never injected"
	[ "$(batch_sum "$d/log" delivered)" = 300 ] || fail "fault $code: batch lines' delivered"
	[ "$(batch_sum "$d/log" deferred)" -gt 0 ] || fail "fault $code: no batch line deferred"
	[ "$(field "$d/po" 'distinct keys')" = 300 ] || fail "fault $code: not all delivered"
	[ "$(field "$d/po" 'duplicate deliveries')" = 0 ] || fail "fault $code: duplicates"
	[ -z "$(ls -A "$d/spool/new")" ] || fail "fault $code: spool not empty"
	[ -z "$(ls -A "$d/store/Import")" ] || fail "fault $code: .ccm left in Import"
done
# --log-level warning: the failed imports are logged, the batch lines not.
d=$(fresh quiet)
gen "$d/spool" 0 100
CCPUMP_PO_FAULT="rate=0.5,code=4,seed=9" "$bin" relay --spool "$d/spool" --store "$d/store" \
	--po "$d/po" --once --batch 8 --retry-min 0.01 --retry-max 0.05 --stats-interval 0 \
	--log-level warning --log "$d/log" || fail "quiet: relay failed"
grep -q "answered 4" "$d/log" || fail "quiet: a failed import was not logged"
! grep -q " info: " "$d/log" || fail "quiet: info lines at --log-level warning"
[ "$(field "$d/po" 'distinct keys')" = 100 ] || fail "quiet: not all delivered"
echo "2a. import answers 1 and 4: deferred, retried, all delivered once; batch lines add up"

# 3 from an external import program for its first three runs, then the real import.
d=$(fresh ext)
gen "$d/spool" 0 100
cat >"$d/import.sh" <<EOS
#!/bin/sh
grep -e '^SigIgn:' -e '^SigBlk:' /proc/self/status >"$d/signals"
ls /proc/self/fd >"$d/fds"
readlink /proc/self/fd/0 >"$d/stdin"
n=\$(cat "$d/runs" 2>/dev/null || echo 0); echo \$((n + 1)) >"$d/runs"
[ "\$n" -lt 3 ] && exit 3
exec "$bin" import --po "$d/po" "\$1"
EOS
chmod +x "$d/import.sh"
# Started as a supervisor might start it, with SIGCHLD and SIGQUIT ignored
# (exec keeps an ignored signal ignored): the relay must still read every
# answer of its import program (with SIGCHLD ignored the kernel reaps the
# program, its answer is lost, and the batch would be imported again at
# each retry), and the program must start with every signal at its default.
python3 -c 'import ctypes, os, platform, signal, sys
signal.signal(signal.SIGCHLD, signal.SIG_IGN)
signal.signal(signal.SIGQUIT, signal.SIG_IGN)
if platform.machine() == "x86_64":
    # Signal 32 too, which glibc keeps for its threads and will not set,
    # by the system call (rt_sigaction, 13): a CI runner left it ignored.
    act = (ctypes.c_ulong * 4)(1, 0, 0, 0)
    ctypes.CDLL(None).syscall(13, 32, act, None, 8)
os.execv(sys.argv[1], sys.argv[1:])' \
	"$bin" relay --spool "$d/spool" --store "$d/store" --import-cmd "$d/import.sh" --once --batch 10 \
	--retry-min 0.01 --retry-max 0.02 --max-attempts 10 --stats-interval 0 --log "$d/log" \
	<"$d/import.sh" || fail "ext: relay failed"
grep -q "answered 3" "$d/log" || fail "ext: answer 3 not seen"
grep -q "SIGCHLD was ignored by whoever started the relay; set back to its default" "$d/log" ||
	fail "ext: no line for the SIGCHLD ignored at start"
[ -z "$(ls -A "$d/store/Bad" 2>/dev/null)" ] || fail "ext: messages in Bad: $(ls "$d/store/Bad" | head -3)"
[ "$(field "$d/po" 'distinct keys')" = 100 ] || fail "ext: not all delivered"
[ "$(field "$d/po" 'duplicate deliveries')" = 0 ] || fail "ext: duplicates"
# The program starts with the signals a program expects: none blocked, and
# none ignored: not SIGPIPE (the relay ignores it for itself; a pipeline in
# the program would meet EPIPE where it expects to stop), nor what the
# relay's own starter ignored.
[ "$(sed -n 's/^SigBlk:[[:space:]]*//p' "$d/signals")" = 0000000000000000 ] ||
	fail "ext: the import program starts with signals blocked: $(cat "$d/signals")"
[ "$(sed -n 's/^SigIgn:[[:space:]]*//p' "$d/signals")" = 0000000000000000 ] ||
	fail "ext: the import program starts with signals ignored: $(cat "$d/signals")"
# Its input is /dev/null, not the relay's (here a file).
[ "$(cat "$d/stdin")" = /dev/null ] || fail "ext: the import program reads $(cat "$d/stdin")"
# Nor with any descriptor of the relay's: the same as a program this script
# starts itself has (0, 1, 2, the one ls opens, and what the test's caller
# passes down).
base=$(ls /proc/self/fd | sort -n | tr '\n' ' ')
[ "$(sort -n "$d/fds" | tr '\n' ' ')" = "$base" ] ||
	fail "ext: the import program has descriptors $(sort -n "$d/fds" | tr '\n' ' '), not $base"

# An import program that hangs on its first run, deaf to SIGTERM: past
# --import-timeout its process group is stopped (SIGKILL after the grace),
# the batch answers 1 and is retried, and the next run imports it.
d=$(fresh hang)
gen "$d/spool" 0 20
cat >"$d/import.sh" <<EOS
#!/bin/sh
n=\$(cat "$d/runs" 2>/dev/null || echo 0); echo \$((n + 1)) >"$d/runs"
if [ "\$n" = 0 ]; then trap '' TERM; echo \$\$ >"$d/hung.pid"; while :; do sleep 0.1; done; fi
exec "$bin" import --po "$d/po" "\$1"
EOS
chmod +x "$d/import.sh"
timeout 60 "$bin" relay --spool "$d/spool" --store "$d/store" --import-cmd "$d/import.sh" --once \
	--import-timeout 0.3 --dispatchers 1 --retry-min 0.01 --retry-max 0.02 --stats-interval 0 \
	--log "$d/log" || fail "hang: relay failed or hung"
grep -q "answered 1: the import command ran past --import-timeout (0.3 s)" "$d/log" ||
	fail "hang: no timeout in the log"
[ "$(field "$d/po" 'distinct keys')" = 20 ] || fail "hang: not all delivered"
[ "$(field "$d/po" 'duplicate deliveries')" = 0 ] || fail "hang: duplicates"
! kill -0 "$(cat "$d/hung.pid")" 2>/dev/null || fail "hang: the hung import is still running"
echo "2e. an import command that hangs: stopped past --import-timeout, retried, delivered once"

# --batch-bytes: a pump batch whose messages outgrow it goes into several
# .ccm files, each imported on its own; every message once.
d=$(fresh batchbytes)
gen "$d/spool" 0 60
"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --once --batch 1024 --dispatchers 1 \
	--batch-bytes 4K --stats-interval 0 --log "$d/log" || fail "batch bytes: relay failed"
files=$(grep -c "info: batch Msg.*ccm: " "$d/log")
[ "$files" -ge 3 ] || fail "batch bytes: $files .ccm files for 60 messages at 4K"
[ "$(batch_sum "$d/log" delivered)" = 60 ] || fail "batch bytes: the batch lines' delivered"
[ "$(field "$d/po" 'distinct keys')" = 60 ] || fail "batch bytes: not 60 delivered"
[ "$(field "$d/po" 'duplicate deliveries')" = 0 ] || fail "batch bytes: duplicates"
echo "2f. --batch-bytes 4K: 60 messages in $files .ccm files, each delivered once"

# --profile ccmc: the connector's pace, one dispatcher importing at most 5
# messages a run (the wait of 15 s after a batch that was not full is not
# timed here: six messages make at most one such wait).
d=$(fresh ccmc)
gen "$d/spool" 0 6
"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --profile ccmc --once \
	--stats-interval 0 --log "$d/log" || fail "ccmc: relay failed"
sizes=$(sed -n 's/.* info: batch \(Msg[0-9A-F]*\)\.ccm: \([0-9]*\) messages.*/\1 \2/p' "$d/log")
[ "$(printf '%s\n' "$sizes" | awk '{s += $2} END {print s + 0}')" = 6 ] || fail "ccmc: batches $sizes"
printf '%s\n' "$sizes" | awk '$2 > 5 || $1 !~ /^Msg00/ {bad = 1} END {exit bad}' ||
	fail "ccmc: a batch over 5 messages, or from a second dispatcher: $sizes"
[ "$(printf '%s\n' "$sizes" | wc -l)" -ge 2 ] || fail "ccmc: six messages in one batch: $sizes"
[ "$(field "$d/po" 'distinct keys')" = 6 ] || fail "ccmc: not 6 delivered"
# Flags given with the profile win, before it or after.
for flags in "--batch 3 --profile ccmc --dispatchers 4" "--dispatchers 4 --profile ccmc --batch 3"; do
	"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" $flags --once \
		--stats-interval 0 --log "$d/log.flags" || fail "ccmc: relay $flags failed"
	grep -q "4 dispatchers, batch 3" "$d/log.flags" || fail "ccmc: $flags gave $(grep dispatchers "$d/log.flags")"
	rm "$d/log.flags"
done
echo "2h. --profile ccmc: $(printf '%s\n' "$sizes" | wc -l) batches of at most 5 on one dispatcher; flags given with it win"

# The site of foreign addresses: a map file's `site` line, unless --site.
for site in MAPSITE OTHER; do
	d=$(fresh "site$site")
	gen "$d/spool" 0 1
	printf 'site MAPSITE\nnative ccmail.example.com HUBPO1\n' >"$d/map"
	flags="--map $d/map"
	[ $site = OTHER ] && flags="--site OTHER --map $d/map"
	"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" $flags --once \
		--stats-interval 0 --log "$d/log" || fail "site: relay $flags failed"
	"$bin" po show --po "$d/po" '"alice@example.org" [SMTP:alice@example.org] at '$site \
		>"$d/show" 2>&1 || fail "site: $flags: no mailbox at $site: $(cat "$d/show")"
	grep -q '^From: "Sender 0" \[SMTP:s0@example.org\] at '$site "$d/show" ||
		fail "site: $flags: $(grep From: "$d/show")"
done
echo "2i. the site of foreign addresses from the map's site line, --site over it"

# --envelope-field: an MTA that writes a copy per recipient (Postfix's
# virtual(8) into one Maildir) gives each copy the recipient it is for, in
# X-Original-To.  Each copy goes to that recipient alone: alice and bob
# once each (by the header, each of the three copies went to both), carol,
# whom the sender had in Bcc and the header no longer shows, once.  A copy
# without the field goes by its header, with a warning.
d=$(fresh envelope)
for r in alice bob carol; do
	printf 'X-Original-To: %s@example.org\r\nFrom: s@example.org\r\nTo: alice@example.org, bob@example.org\r\nSubject: one message\r\n\r\nhi\r\n' \
		$r >"$d/spool/tmp/1764288000.Menv$r.test"
	mv "$d/spool/tmp/1764288000.Menv$r.test" "$d/spool/new/"
done
printf 'From: s@example.org\r\nTo: alice@example.org\r\nSubject: no field\r\n\r\nhi\r\n' \
	>"$d/spool/new/1764288000.Mnofield.test"
"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --envelope-field X-Original-To \
	--once --stats-interval 0 --log "$d/log" || fail "envelope: relay failed"
[ "$(field "$d/po" delivered)" = 4 ] || fail "envelope: $(field "$d/po" delivered) deliveries, not 4"
[ "$(field "$d/po" 'duplicate deliveries')" = 0 ] || fail "envelope: duplicate deliveries"
for r in alice bob carol; do
	"$bin" po show --po "$d/po" "\"$r@example.org\" [SMTP:$r@example.org] at EXSITE" >"$d/show" ||
		fail "envelope: nothing for $r"
	[ "$(grep -c '^Subject: ' "$d/show")" = "$([ $r = alice ] && echo 2 || echo 1)" ] ||
		fail "envelope: $r has $(grep '^Subject: ' "$d/show" | tr '\n' ' ')"
done
grep -q "warning: message 1764288000.Mnofield.test has no X-Original-To field naming a recipient: delivered to the recipients of its header" \
	"$d/log" || fail "envelope: no warning for the copy without the field"
echo "2j. --envelope-field: a copy per recipient goes to that recipient alone; a Bcc reaches its recipient"

# 5: a user directory that knows alice and bob only.  Messages to alice
# alone are delivered; others deliver in part (carol unknown).
gen "$work" 0 0 2>/dev/null
probe=$work/probe; mkdir -p "$probe/tmp" "$probe/new"; gen "$probe" 2 1
"$bin" convert "$probe/new/"* | sed -n 's/^To: //p' | tr -d '\r' | grep -v carol >"$work/users"
d=$(fresh undeliv --users "$work/users")
gen "$d/spool" 0 30
printf 'From: "X" <x@example.org>\r\nTo: nobody@example.org\r\nSubject: lost\r\n\r\nhi\r\n' \
	>"$d/spool/new/1764288000.M999P77.test"
"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --once --stats-interval 0 \
	--log "$d/log" || fail "undeliverable: relay failed"
[ -f "$d/store/Bad/1764288000.M999P77.test" ] || fail "undeliverable: not moved to Bad"
[ -s "$d/store/Bad/1764288000.M999P77.test.reason" ] || fail "undeliverable: no reason"
grep -q 'Reason:' "$d/store/Bad/1764288000.M999P77.test.ndr" || fail "undeliverable: no NDR"
[ "$(field "$d/po" 'distinct keys')" = 30 ] || fail "undeliverable: the good ones were not delivered"
undreason=$(head -1 "$d/store/Bad/1764288000.M999P77.test.reason")
# The messages that reached alice and bob but not carol were delivered in
# part: each one's sender is told in Partial/NAME.ndr, not Bad/, and the
# message is settled as delivered.
want=$(for i in $(seq 2 3 29); do echo "1764288000.M${i}P77.test.ndr"; done | sort)
[ "$(ls "$d/store/Partial" | sort)" = "$want" ] ||
	fail "partial: reports in Partial: $(ls "$d/store/Partial" | tr '\n' ' ')"
[ ! -e "$d/store/Bad/1764288000.M5P77.test" ] || fail "partial: a message delivered in part in Bad"
pr=$d/store/Partial/1764288000.M5P77.test.ndr
for h in 'To: <s5@example.org>' 'Subject: Undeliverable to some recipients on cc:Mail: 1764288000.M5P77.test' \
	'for its other recipients, but not for the ones named below.' 'From: "Sender 5" <s5@example.org>'; do
	grep -qxF "$h" "$pr" || fail "partial: the report lacks '$h': $(cat "$pr")"
done
grep -q '^Reason: .*unknown recipient .*carol' "$pr" || fail "partial: the reason: $(grep Reason "$pr")"
[ "$(grep -c 'delivered in part, its report in .*/Partial/' "$d/log")" = 10 ] ||
	fail "partial: $(grep -c 'delivered in part' "$d/log") log lines, not 10"
grep 'relay: done:' "$d/log" | tail -1 | grep -q '(10 in part)' || fail "partial: the done line"
"$bin" queue --spool "$d/spool" --store "$d/store" --json | grep -q '"partial_reports":10}' ||
	fail "partial: queue --json: $("$bin" queue --spool "$d/spool" --store "$d/store" --json)"
"$bin" queue --spool "$d/spool" --store "$d/store" |
	grep -q "^reports on messages delivered in part, in .*/Partial: 10$" || fail "partial: queue"
# Imported again, as after a crash between the import and the spool file's
# removal: alice and bob are skipped, carol is reported once more.
delivered=$(field "$d/po" delivered)
rm "$pr" "$probe/new/"*
gen "$probe" 5 1
mv "$probe/new/1764288000.M5P77.test" "$d/spool/new/"
"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --once --stats-interval 0 \
	--log "$d/log" || fail "partial again: relay failed"
[ -s "$pr" ] || fail "partial again: no report"
[ "$(field "$d/po" delivered)" = "$delivered" ] || fail "partial again: delivered again"
[ -z "$(ls -A "$d/spool/new")" ] || fail "partial again: left in the spool"

# The same through an external import program answering 5: the relay reads
# the undeliverable messages from the .und file beside the batch, each named
# by its X-Spool-Id line, with the program's reason.  A line of a message's
# text that reads like one (M998's names M1) names nothing: M1 is delivered.
d2=$(fresh undeliv-ext --users "$work/users")
gen "$d2/spool" 0 30
cp "$d/spool/../store/Bad/1764288000.M999P77.test" "$d2/spool/new/"
printf 'From: "X" <x@example.org>\r\nTo: nobody@example.org\r\nSubject: lost\r\n\r\nhi\r\nX-Spool-Id: 1764288000.M1P77.test\r\n' \
	>"$d2/spool/new/1764288000.M998P77.test"
"$bin" relay --spool "$d2/spool" --store "$d2/store" --import-cmd "$bin import --po $d2/po" \
	--once --stats-interval 0 --log "$d2/log" 2>/dev/null || fail "undeliverable (ext): relay failed"
[ -s "$d2/store/Bad/1764288000.M999P77.test.reason" ] || fail "undeliverable (ext): not in Bad"
[ ! -e "$d2/store/Bad/1764288000.M1P77.test" ] ||
	fail "undeliverable (ext): M1 taken for undeliverable from a line of M998's text"
[ -e "$d2/store/Bad/1764288000.M998P77.test" ] || fail "undeliverable (ext): M998 not in Bad"
grep -q "unknown recipient" "$d2/store/Bad/1764288000.M998P77.test.reason" ||
	fail "undeliverable (ext): the program's reason: $(cat "$d2/store/Bad/1764288000.M998P77.test.reason"; grep -e M998 -e warn "$d2/log")"
[ "$(field "$d2/po" 'distinct keys')" = 30 ] || fail "undeliverable (ext): the good ones"
[ -z "$(ls -A "$d2/spool/new")" ] || fail "undeliverable (ext): spool not empty"
# An import program that answers 5 and lists nothing leaves the relay unable
# to tell what it imported: the batch is deferred (here, with one attempt
# allowed, to Bad), never taken as delivered and removed from the spool.
d3=$(fresh undeliv-nolist)
gen "$d3/spool" 0 5
printf '#!/bin/sh\nexit 5\n' >"$d3/import.sh"
chmod +x "$d3/import.sh"
"$bin" relay --spool "$d3/spool" --store "$d3/store" --import-cmd "$d3/import.sh" --once \
	--max-attempts 1 --stats-interval 0 --log "$d3/log" 2>/dev/null || fail "no list: relay failed"
[ "$(ls "$d3/store/Bad" | grep -vc -e '\.reason$' -e '\.ndr$')" = 5 ] ||
	fail "no list: in Bad: $(ls "$d3/store/Bad" | tr '\n' ' ')"
grep -q "answered 5, but its list of undeliverable messages" "$d3/log" ||
	fail "no list: no log line: $(grep -m2 -e warn -e error "$d3/log")"
# A list that names a message by an X-Spool-Id not in the batch (the
# program mangled it) does not say which of ours it meant: the messages it
# does not name are not taken as delivered either.  The one the program
# refused must not leave the spool without a trace: here (one attempt) it
# goes to Bad with the rest.
d4=$(fresh undeliv-mangled --users "$work/users")
gen "$d4/spool" 0 3
printf 'From: "X" <x@example.org>\r\nTo: nobody@example.org\r\nSubject: lost\r\n\r\nhi\r\n' \
	>"$d4/spool/new/1764288000.M997P77.test"
cat >"$d4/import.sh" <<EOS
#!/bin/sh
"$bin" import --po "$d4/po" "\$1"; rc=\$?
und="\${1%.ccm}.und"
[ -f "\$und" ] && sed -i 's/X-Spool-Id: 1764288000.M997P77.test/X-Spool-Id: 1764288000.M997P77.tesT/' "\$und"
exit \$rc
EOS
chmod +x "$d4/import.sh"
"$bin" relay --spool "$d4/spool" --store "$d4/store" --import-cmd "$d4/import.sh" --once \
	--max-attempts 1 --stats-interval 0 --log "$d4/log" 2>/dev/null || fail "mangled list: relay failed"
[ -e "$d4/store/Bad/1764288000.M997P77.test" ] ||
	fail "mangled list: the refused message left the spool as delivered"
grep -q "names a message not in the batch" "$d4/log" ||
	fail "mangled list: no log line: $(grep -m2 -e warn -e error "$d4/log")"
# A list that names one message twice: it goes to Bad once, counted and
# reported once.
d5=$(fresh undeliv-twice --users "$work/users")
gen "$d5/spool" 0 2 # to alice and bob, whom the post office knows
printf 'Return-Path: <x@example.org>\r\nFrom: "X" <x@example.org>\r\nTo: nobody@example.org\r\nSubject: lost\r\n\r\nhi\r\n' \
	>"$d5/spool/new/1764288000.M996P77.test"
cat >"$d5/import.sh" <<EOS
#!/bin/sh
"$bin" import --po "$d5/po" "\$1"; rc=\$?
und="\${1%.ccm}.und"
[ -f "\$und" ] && cat "\$und" "\$und" >"\$und.2" && mv "\$und.2" "\$und"
exit \$rc
EOS
chmod +x "$d5/import.sh"
counting_bounce "$d5"
"$bin" relay --spool "$d5/spool" --store "$d5/store" --import-cmd "$d5/import.sh" --once \
	--bounce-cmd "$d5/bounce.sh" --stats-interval 0 --log "$d5/log" 2>/dev/null ||
	fail "listed twice: relay failed"
grep -q "relay: done: 2 delivered (0 in part), 1 bad," "$d5/log" ||
	fail "listed twice: $(grep "relay: done" "$d5/log")"
[ "$(grep -c "message 1764288000.M996P77.test to Bad" "$d5/log")" = 1 ] ||
	fail "listed twice: sent to Bad $(grep -c "message 1764288000.M996P77.test to Bad" "$d5/log") times"
[ "$(wc -l <"$d5/sent")" = 1 ] || fail "listed twice: $(wc -l <"$d5/sent") reports sent"

# `queue --requeue`: once the user directory knows the recipient, the
# message in Bad goes back into the spool, its reason, report and attempts
# dropped, and is delivered once.  What is not in Bad, a name that is
# already waiting, a record's name or a path are refused, changing nothing.
und=1764288000.M999P77.test
q() { "$bin" queue --spool "$d/spool" --store "$d/store" "$@"; }
q --requeue 1764288000.nosuch 2>"$d/rq.err" && fail "requeue: a message not in Bad"
grep -q "1764288000.nosuch: not in .*/Bad" "$d/rq.err" || fail "requeue: $(cat "$d/rq.err")"
q --requeue "$und.reason" 2>/dev/null && fail "requeue: a record's name"
q --requeue ../po 2>/dev/null && fail "requeue: a path"
cp "$d/store/Bad/$und" "$d/spool/new/$und"
q --requeue "$und" 2>"$d/rq.err" && fail "requeue: over a message waiting in the spool"
grep -q "is there already: not replaced" "$d/rq.err" || fail "requeue: $(cat "$d/rq.err")"
[ -s "$d/store/Bad/$und.reason" ] && [ -s "$d/store/Bad/$und.ndr" ] ||
	fail "requeue: a refused requeue touched the records"
rm "$d/spool/new/$und"
"$bin" convert "$d/store/Bad/$und" | sed -n 's/^To: //p' | tr -d '\r' >>"$d/po/users"
printf 'attempt 3\nfirst %d\nanswer 5\nreason stale\n' "$(date +%s)" >"$d/store/Deferred/$und"
q --requeue-all >"$d/rq.out" || fail "requeue: --requeue-all failed"
grep -q "^1 messages requeued" "$d/rq.out" || fail "requeue: $(cat "$d/rq.out")"
[ -f "$d/spool/new/$und" ] || fail "requeue: not back in the spool"
[ -z "$(ls -A "$d/store/Bad")" ] || fail "requeue: left in Bad: $(ls -A "$d/store/Bad")"
[ ! -e "$d/store/Deferred/$und" ] || fail "requeue: the old marker stayed"
"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --once --stats-interval 0 \
	--log "$d/log" || fail "requeue: relay failed"
[ "$(field "$d/po" 'distinct keys')" = 31 ] || fail "requeue: not delivered after the requeue"
[ -z "$(ls -A "$d/store/Bad")" ] || fail "requeue: back in Bad"
# Names too long for NAME.reason (250 and 254 octets; a file name holds 255
# at most): their records go by the name's first octets, '~' and a hash of
# the whole name, and the queue's tools find them by the message's name.
x=$(printf '%0233d' 0 | tr 0 x)
long1=1764288000.M$x.test long2=1764288000.M${x}yyyy.test
printf 'From: "X" <x@example.org>\r\nTo: stranger@example.org\r\nSubject: long\r\n\r\nhi\r\n' \
	>"$d/spool/new/$long1"
printf 'From: "X" <x@example.org>\r\nTo: alice@example.org\r\nCc: stranger@example.org\r\nSubject: long\r\n\r\nhi\r\n' \
	>"$d/spool/new/$long2"
"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --once --stats-interval 0 \
	--log "$d/log" || fail "long name: relay failed"
[ -f "$d/store/Bad/$long1" ] || fail "long name: not in Bad"
[ "$(ls "$d/store/Bad" | grep -c '^1764288000\.Mx*~[0-9a-f]\{16\}\.\(reason\|ndr\)$')" = 2 ] ||
	fail "long name: its records: $(ls "$d/store/Bad" | cut -c 1-20,230- | tr '\n' ' ')"
grep -q '^Subject: Undeliverable to some recipients' "$d/store/Partial/"1764288000.Mx*~*.ndr ||
	fail "long name: no report on the partial delivery"
! grep -e "without its reason" -e "without its report" "$d/log" || fail "long name: a record not written"
q --list 100 | grep -F "$long1" | grep -q "unknown recipient" || fail "long name: not listed with its reason"
"$bin" queue --store "$d/store" --resend-report "$long1" --resend-report "$long2" >/dev/null ||
	fail "long name: --resend-report"
[ -e "$d/store/Bounce/$long1" ] && [ -e "$d/store/Bounce/$long2" ] || fail "long name: not queued"
q --requeue "$long1" >/dev/null || fail "long name: requeue"
[ -z "$(ls -A "$d/store/Bad")" ] || fail "long name: left in Bad: $(ls -A "$d/store/Bad" | cut -c 1-20,230-)"
[ ! -e "$d/store/Bounce/$long1" ] || fail "long name: its queued report stayed after the requeue"
rm "$d/spool/new/$long1" "$d/store/Bounce/$long2"

# --bounce-cmd: each report on a message that goes to Bad is queued in
# STORE/Bounce and handed by the bouncer thread to the command, with the
# message's return path as its last argument (Return-Path, else From), the
# command line parsed by the shell; never for a null return path, nor for an
# address that could pass for an option.  An answer of 75 keeps the report
# queued, over a restart; any other failure is final.
d=$(fresh bounce --users "$work/users")
mkdir "$d/sent"
cat >"$d/bounce.sh" <<EOS
#!/bin/sh
for a; do :; done
{ printf 'ARGS:'; printf ' [%s]' "\$@"; printf '\n'; cat; } >"$d/sent/\$a"
echo >>"$d/sends.\$a"
[ "\$a" = slow@example.org ] && while [ ! -f "$d/release" ]; do sleep 0.05; done
[ "\$a" = fail@example.org ] && exit 67
[ "\$a" = temp@example.org ] && [ -f "$d/down" ] && { rm "$d/sent/\$a"; exit 75; }
exit 0
EOS
chmod +x "$d/bounce.sh"
touch "$d/down"
msg() { # msg NAME HEADER-LINES...: a message to an unknown recipient
	# Written in tmp/ and renamed into new/, as an MTA delivers: a relay
	# already running must not find it half written.
	local name=$1; shift
	mkdir -p "$d/spool/tmp"
	{ printf '%s\r\n' "$@"; printf 'To: nobody@example.org\r\nSubject: s\r\n\r\nhi\r\n'; } \
		>"$d/spool/tmp/1764288000.$name.test"
	mv "$d/spool/tmp/1764288000.$name.test" "$d/spool/new/"
}
msg Mrp 'Return-Path: <rp@example.org>' 'From: "X" <x@example.org>' 'Message-ID: <abc@example.org>'
msg Mnull 'Return-Path: <>' 'From: MAILER-DAEMON@example.org'
msg Mfrom 'From: "Y (not <this>)" <y@example.org> (comment)'
msg Mopt 'From: -oQ/tmp/x@example.org'
msg Mfail 'From: fail@example.org'
msg Mtemp 'From: temp@example.org'
msg Mpart 'From: part@example.org' 'Cc: alice@example.org' # delivered to alice alone
msg Mpartfail 'From: fail@example.org' 'Cc: alice@example.org'
# Automatic replies are never answered with a report (a loop between two
# systems): one that says so, and a return path of a MAILER-DAEMON.
msg Mauto 'From: ar@example.org' 'Auto-Submitted: Auto-Replied (vacation)'
msg Mdaemon 'From: "Mail Delivery System" <MAILER-DAEMON@example.org>'
printf 'To: nobody@example.org\r\nSubject: no sender\r\n\r\nhi\r\n' >"$d/spool/new/1764288000.Mnone.test"
# No header at all (a blank first line): the lines of its body are not a
# header, and no report goes to an address written there.
printf '\r\nFrom: victim@example.org\r\nTo: nobody@example.org\r\n\r\nhi\r\n' \
	>"$d/spool/new/1764288000.Mblank.test"
brelay() {
	"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --once --stats-interval 0 \
		--bounce-cmd "'$d/bounce.sh' -oi -f '<>' --" --bounce-from postmaster@relay.example \
		--retry-min 0.05 --retry-max 0.1 --log "$d/log" || fail "bounce: relay failed"
}
brelay
[ "$(ls "$d/store/Bad" | grep -c '\.ndr$')" = 10 ] || fail "bounce: not every message has its report"
grep -qF "message 1764288000.Mauto.test: no report sent: it is an automatic reply itself" "$d/log" ||
	fail "bounce: no log line for the automatic reply"
grep -qF "message 1764288000.Mdaemon.test: no report sent: its return path MAILER-DAEMON@example.org is a mail system's own" \
	"$d/log" || fail "bounce: no log line for the MAILER-DAEMON return path"
[ "$(ls "$d/sent")" = "$(printf '%s\n' fail@example.org part@example.org rp@example.org y@example.org)" ] ||
	fail "bounce: reports sent to: $(ls "$d/sent" | tr '\n' ' ')"
[ "$(ls "$d/store/Bounce")" = 1764288000.Mtemp.test ] ||
	fail "bounce: waiting to be sent: $(ls "$d/store/Bounce" | tr '\n' ' ')"
"$bin" queue --spool "$d/spool" --store "$d/store" | grep -q "^reports to senders waiting .*: 1$" ||
	fail "bounce: queue does not show the report waiting"
grep 'stats: ' "$d/log" | tail -1 | grep -q ', reports waiting 1' ||
	fail "bounce: the last stats line does not count the report waiting"
r=$d/sent/rp@example.org
head -1 "$r" | grep -qx 'ARGS: \[-oi\] \[-f\] \[<>\] \[--\] \[rp@example.org\]' ||
	fail "bounce: the command got $(head -1 "$r")"
for h in 'From: Mail Delivery System <postmaster@relay.example>' 'To: <rp@example.org>' \
	'Auto-Submitted: auto-replied' 'In-Reply-To: <abc@example.org>' \
	'Subject: Undeliverable to cc:Mail: 1764288000.Mrp.test' 'Return-Path: <rp@example.org>'; do
	tr -d '\r' <"$r" | grep -qxF "$h" || fail "bounce: the report lacks '$h'"
done
tr -d '\r' <"$r" | grep -q '^Message-ID: <ccpump-ndr\..*@relay.example>$' || fail "bounce: Message-ID"
cmp -s <(tail -n +2 "$r") "$d/store/Bad/1764288000.Mrp.test.ndr" || fail "bounce: sent another text than kept"
# The report on a message delivered in part goes out the same way, from
# Partial/.
cmp -s <(tail -n +2 "$d/sent/part@example.org") "$d/store/Partial/1764288000.Mpart.test.ndr" ||
	fail "bounce: the report on a partial delivery: $(cat "$d/sent/part@example.org")"
grep -qxF 'Subject: Undeliverable to some recipients on cc:Mail: 1764288000.Mpart.test' \
	"$d/sent/part@example.org" || fail "bounce: the partial report's subject"
for line in "Mnull.test: no report sent: its return path is null" \
	"Mopt.test: no report sent: its From holds no usable address" \
	"Mnone.test: no report sent: it has no Return-Path, Sender or From" \
	"Mblank.test: no report sent: it has no Return-Path, Sender or From" \
	"Mfail.test: the report to fail@example.org was not sent: the bounce command answered 67, not a temporary failure (75): not tried again; it stays in Bad/1764288000.Mfail.test.ndr" \
	"Mpartfail.test: the report to fail@example.org was not sent: the bounce command answered 67, not a temporary failure (75): not tried again; it stays in Partial/1764288000.Mpartfail.test.ndr" \
	"Mtemp.test: the report to temp@example.org was not sent: the bounce command answered 75; tried again in" \
	"Mrp.test: report sent to rp@example.org"; do
	grep -qF "message 1764288000.$line" "$d/log" || fail "bounce: no log line '$line'"
done
# The relay run again, the command mended: the report left queued is sent.
rm "$d/down"
brelay
[ -f "$d/sent/temp@example.org" ] || fail "bounce: the queued report was not sent by the next run"
[ -z "$(ls -A "$d/store/Bounce")" ] || fail "bounce: left queued: $(ls "$d/store/Bounce")"
# A message requeued while its report waits: the report is not sent.
touch "$d/down"
msg Mtemp2 'From: temp@example.org'
brelay
[ "$(ls "$d/store/Bounce")" = 1764288000.Mtemp2.test ] || fail "bounce: Mtemp2's report not queued"
"$bin" queue --spool "$d/spool" --store "$d/store" --requeue 1764288000.Mtemp2.test >/dev/null ||
	fail "bounce: requeue failed"
[ -z "$(ls -A "$d/store/Bounce")" ] || fail "bounce: the requeued message's report is still queued"
[ -f "$d/spool/new/1764288000.Mtemp2.test" ] || fail "bounce: not requeued"
# A running relay whose bounce command failed (75) waits out its backoff
# (an hour here); `queue --flush` has it try the queue at once.  `queue
# --resend-report` queues a report again and asks the relay to send it.
rm -f "$d/sent/"*
"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --stats-interval 0 \
	--bounce-cmd "'$d/bounce.sh' -oi -f '<>' --" --retry-min 3600 --retry-max 3600 \
	--stats-file "$d/stats.json" --log "$d/log" &
pid=$!
for ((t = 0; t < 100; t++)); do
	[ "$(ls "$d/store/Bounce")" = 1764288000.Mtemp2.test ] && break
	sleep 0.1
done
[ "$(ls "$d/store/Bounce")" = 1764288000.Mtemp2.test ] || fail "bounce: Mtemp2 failed again, not queued"
# Each report has its own backoff: while Mtemp2's is an hour, a report
# queued meanwhile is sent at once.
msg Mnew 'From: new@example.org'
within10 test -f "$d/sent/new@example.org" || fail "bounce: a new report waited for another's backoff"
# A message requeued while its report is being sent, and failed again: the
# new report stays queued and is sent too, not removed with the old one.
msg Mslow 'From: slow@example.org'
within10 test -f "$d/sends.slow@example.org" || fail "bounce: Mslow's report was not sent"
ino() { stat -c %i "$1" 2>/dev/null; }
old_ndr=$(ino "$d/store/Bad/1764288000.Mslow.test.ndr")
"$bin" queue --spool "$d/spool" --store "$d/store" --requeue 1764288000.Mslow.test >/dev/null ||
	fail "bounce: requeue of Mslow failed"
new_report_queued() {
	local ndr q
	ndr=$(ino "$d/store/Bad/1764288000.Mslow.test.ndr") q=$(ino "$d/store/Bounce/1764288000.Mslow.test")
	[ -n "$ndr" ] && [ "$ndr" != "$old_ndr" ] && [ "$q" = "$ndr" ]
}
within10 new_report_queued || fail "bounce: Mslow failed again, its new report not queued"
touch "$d/release"
sent_twice() { [ "$(wc -l <"$d/sends.slow@example.org")" = 2 ]; }
within10 sent_twice ||
	fail "bounce: the new report on Mslow was not sent ($(wc -l <"$d/sends.slow@example.org") sends)"
# A report sent already is sent again on request (the relay is asked at
# once); one without an address, or for no message, is refused.
"$bin" queue --store "$d/store" --resend-report 1764288000.Mrp.test \
	--resend-report 1764288000.Mpart.test >"$d/rs.out" || fail "bounce: --resend-report failed"
grep -q "^2 reports queued; asked the relay on store .* (pid $pid) to send them now" "$d/rs.out" ||
	fail "bounce: --resend-report said $(cat "$d/rs.out")"
for ((t = 0; t < 100; t++)); do
	[ -f "$d/sent/rp@example.org" ] && [ -f "$d/sent/part@example.org" ] && break
	sleep 0.1
done
[ -f "$d/sent/rp@example.org" ] || fail "bounce: the resent report was not sent"
[ -f "$d/sent/part@example.org" ] || fail "bounce: the resent partial report was not sent"
"$bin" queue --store "$d/store" --resend-report 1764288000.Mnone.test 2>"$d/rs.err" &&
	fail "bounce: resent a report without an address"
grep -q "has no address to go to" "$d/rs.err" || fail "bounce: --resend-report said $(cat "$d/rs.err")"
"$bin" queue --store "$d/store" --resend-report 1764288000.nosuch 2>/dev/null &&
	fail "bounce: resent the report of no message"
rm "$d/down"
"$bin" queue --store "$d/store" --flush >/dev/null || fail "bounce: flush failed"
for ((t = 0; t < 100; t++)); do
	[ -z "$(ls -A "$d/store/Bounce")" ] && break
	sleep 0.1
done
[ -z "$(ls -A "$d/store/Bounce")" ] || fail "bounce: the flush did not send the queue"
[ "$(ls "$d/sent")" = "$(printf '%s\n' new@example.org part@example.org rp@example.org slow@example.org temp@example.org)" ] ||
	fail "bounce: the flush sent to $(ls "$d/sent" | tr '\n' ' ')"
kill -TERM $pid
wait $pid || fail "bounce: relay exited $?"
python3 -c 'import json,sys; sys.exit(json.load(open(sys.argv[1]))["reports_waiting"] != 0)' \
	"$d/stats.json" || fail "bounce: the stats file: $(cat "$d/stats.json")"
# A relay without --bounce-cmd keeps the reports queued: `queue
# --resend-report` says so, and does not signal it (which would also have
# it retry its deferred messages at once).
"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --stats-interval 0 \
	--log "$d/log.quiet" &
pid=$!
for ((t = 0; t < 100; t++)); do grep -qs "relay: spool" "$d/log.quiet" && break; sleep 0.1; done
"$bin" queue --store "$d/store" --resend-report 1764288000.Mrp.test >"$d/rs.out" ||
	fail "bounce: --resend-report with a relay without --bounce-cmd failed"
grep -q "^1 reports queued in .*/Bounce: a relay with --bounce-cmd sends them (no relay running on this store sends reports)" \
	"$d/rs.out" || fail "bounce: --resend-report to a relay without --bounce-cmd said $(cat "$d/rs.out")"
kill -TERM $pid
wait $pid || fail "bounce: the relay without --bounce-cmd exited $?"
! grep -q "flush:" "$d/log.quiet" || fail "bounce: a relay without --bounce-cmd was signalled"
# A requeue that cannot move the message into new/ leaves it in Bad as it
# was: its records, and its report still queued.  (new/ made immutable,
# where the file system has the attribute.)
d=$(fresh rqfail --users "$work/users")
msg Mstuck 'From: stuck@example.org'
"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --once --stats-interval 0 \
	--log "$d/log" || fail "rqfail: relay failed"
"$bin" queue --store "$d/store" --resend-report 1764288000.Mstuck.test >/dev/null ||
	fail "rqfail: the report was not queued"
if chattr +i "$d/spool/new" 2>/dev/null; then
	"$bin" queue --spool "$d/spool" --store "$d/store" --requeue 1764288000.Mstuck.test \
		2>"$d/rq.err" && { chattr -i "$d/spool/new"; fail "rqfail: requeued into an immutable new/"; }
	chattr -i "$d/spool/new"
	grep -q "cannot move it into" "$d/rq.err" || fail "rqfail: $(cat "$d/rq.err")"
	[ "$(ls "$d/store/Bad" | tr '\n' ' ')" = "1764288000.Mstuck.test 1764288000.Mstuck.test.ndr 1764288000.Mstuck.test.reason " ] ||
		fail "rqfail: Bad holds $(ls -A "$d/store/Bad" | tr '\n' ' ')"
	[ "$(ls -A "$d/store/Bounce")" = 1764288000.Mstuck.test ] ||
		fail "rqfail: the queued report is gone: $(ls -A "$d/store/Bounce" | tr '\n' ' ')"
fi
# `queue --delete` removes a message of Bad for good: its reason and
# report, and its report still queued; names not of a message are
# refused and touch nothing.  --delete-all empties Bad.
q() { "$bin" queue --store "$d/store" "$@"; }
q --delete 1764288000.nosuch 2>"$d/del.err" && fail "delete: a message not in Bad"
grep -q "1764288000.nosuch: not in .*/Bad" "$d/del.err" || fail "delete: $(cat "$d/del.err")"
q --delete 1764288000.Mstuck.test.reason 2>/dev/null && fail "delete: a record's name"
q --delete ../spool 2>/dev/null && fail "delete: a path"
[ "$(ls "$d/store/Bad" | wc -l)" = 3 ] || fail "delete: a refused delete touched Bad: $(ls "$d/store/Bad")"
q --delete 1764288000.Mstuck.test >"$d/del.out" || fail "delete: failed"
grep -q "^1 messages deleted from $d/store/Bad$" "$d/del.out" || fail "delete: $(cat "$d/del.out")"
[ -z "$(ls -A "$d/store/Bad")" ] || fail "delete: left in Bad: $(ls -A "$d/store/Bad")"
[ -z "$(ls -A "$d/store/Bounce")" ] || fail "delete: its queued report stayed"
msg Mgone1 'From: gone1@example.org'
msg Mgone2 'From: gone2@example.org'
"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --once --stats-interval 0 \
	--log "$d/log" || fail "delete: relay failed"
[ "$(ls "$d/store/Bad" | wc -l)" = 6 ] || fail "delete: Bad holds $(ls "$d/store/Bad")"
q --delete-all >"$d/del.out" || fail "delete: --delete-all failed"
grep -q "^2 messages deleted" "$d/del.out" || fail "delete: --delete-all said $(cat "$d/del.out")"
[ -z "$(ls -A "$d/store/Bad")" ] || fail "delete: --delete-all left $(ls -A "$d/store/Bad")"
echo "2m. queue --delete and --delete-all: a message of Bad gone with its records and queued report"
# Start-up removes what a crash left under temporary names in Bad/, but
# not the names of a process still running (a requeue beside the relay).
# A name holds its maker's pid, start time (field 22 of /proc/PID/stat),
# pid namespace (/proc/self/ns/pid's inode), boot and host (the first 32
# bits of the boot id and of /etc/machine-id, in hex); older names lack the
# host, the boot too, or all but the pid.
sleep 60 &
live=$!
start=$(sed 's/.*) //' "/proc/$live/stat" | cut -d' ' -f20)
ns=$(stat -L -c %i /proc/self/ns/pid)
boot=$(printf %x "0x$(cut -c1-8 /proc/sys/kernel/random/boot_id)")
# Another host's boot, or an earlier one of this host.
other=$(printf %x $((0x$boot ^ 1)))
keep=".tmp-$live-1 .tmp-$live.$start.$ns-1 .tmp-2147483646.5.$((ns + 1))-1
	.tmp-$live.$start.$ns.$boot-1 .tmp-2147483646.5.$ns.$other-1"
gone=".tmp-2147483646-1 .tmp-2147483646.5.$ns-1 .tmp-$live.$((start + 1)).$ns-1
	.tmp-2147483646.5.$ns.$boot-1 .tmp-$live.$((start + 1)).$ns.$boot-1"
host=
if [ -r /etc/machine-id ]; then
	host=$(printf %x "0x$(cut -c1-8 /etc/machine-id)")
	otherhost=$(printf %x $((0x$host ^ 1)))
	# This host's earlier boot: gone at once, however recent; another
	# host's: kept.
	keep="$keep .tmp-$live.$start.$ns.$boot.$host-1 .tmp-2147483646.5.$ns.$other.$otherhost-1"
	gone="$gone .tmp-2147483646.5.$ns.$boot.$host-1 .tmp-2147483646.5.$ns.$other.$host-1"
fi
for f in $keep $gone; do : >"$d/store/Bad/$f"; done
# A name put aside by rename keeps its old mtime: it counts as changed now.
touch -d '3 days ago' "$d/store/Bad/.tmp-2147483646.5.$((ns + 1))-1"
"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --once --stats-interval 0 \
	--log "$d/log" || fail "tmp: relay failed"
for f in $keep; do
	[ -e "$d/store/Bad/$f" ] || fail "tmp: $f, a running process's temporary file, was removed"
done
for f in $gone; do
	[ ! -e "$d/store/Bad/$f" ] || fail "tmp: $f, a gone process's temporary file, was left"
done
# Another namespace's process cannot be seen: its names go once they are
# older than the window (a day; here 0 s).
CCPUMP_TMP_FOREIGN_KEEP_S=0 "$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" \
	--once --stats-interval 0 --log "$d/log" || fail "tmp: relay failed"
[ ! -e "$d/store/Bad/.tmp-2147483646.5.$((ns + 1))-1" ] ||
	fail "tmp: another namespace's name past the window was left"
[ ! -e "$d/store/Bad/.tmp-2147483646.5.$ns.$other-1" ] ||
	fail "tmp: another boot's name past the window was left"
[ -z "$host" ] || [ ! -e "$d/store/Bad/.tmp-2147483646.5.$ns.$other.$otherhost-1" ] ||
	fail "tmp: another host's name past the window was left"
# Without the host in it, a name of another boot last changed before this
# host booted is taken for an earlier boot's: gone at once, though a
# process of its pid and start time runs now.  One changed since is
# another host's, kept.  With the host, another host's is kept however
# old.  (A time namespace moves this host's boot to a second ago.)
: >"$d/store/Bad/.tmp-$live.$start.$ns.$other-3"
[ -z "$host" ] || : >"$d/store/Bad/.tmp-2147483646.5.$ns.$other.$otherhost-5"
sleep 3
: >"$d/store/Bad/.tmp-2147483646.5.$ns.$other-4"
up=$(cut -d. -f1 /proc/uptime)
if unshare --time --boottime "-$((up - 1))" --fork true 2>/dev/null; then
	unshare --time --boottime "-$((up - 1))" --fork \
		"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --once \
		--stats-interval 0 --log "$d/log" || fail "tmp: relay in a time namespace failed"
	[ ! -e "$d/store/Bad/.tmp-$live.$start.$ns.$other-3" ] ||
		fail "tmp: a name of an earlier boot was left"
	[ -e "$d/store/Bad/.tmp-2147483646.5.$ns.$other-4" ] ||
		fail "tmp: another host's name, changed since this boot, was removed"
	[ -z "$host" ] || [ -e "$d/store/Bad/.tmp-2147483646.5.$ns.$other.$otherhost-5" ] ||
		fail "tmp: another host's name, changed before this boot, was removed"
else
	skip "unshare --time does not work here: names of an earlier boot not tested"
fi
rm -f "$d/store/Bad/.tmp-$live.$start.$ns.$other-3" "$d/store/Bad/.tmp-2147483646.5.$ns.$other-4" \
	"$d/store/Bad/.tmp-2147483646.5.$ns.$other.$otherhost-5"
# Without its /proc entry to read (no /proc mounted, or hidepid), a
# running process's name stays: the signal test still sees the process.
# (Only that process's entry is hidden: ThreadSanitizer reads /proc/self.)
if unshare -m --propagation private true 2>/dev/null; then
	: >"$d/store/Bad/.tmp-$live.$start.$ns-2"
	mkdir -p "$d/empty"
	unshare -m --propagation private sh -c 'mount --bind "$1" "/proc/$2" && shift 2 && exec "$@"' \
		sh "$d/empty" "$live" \
		"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --once \
		--stats-interval 0 --log "$d/log" || fail "tmp: relay without /proc failed"
	[ -e "$d/store/Bad/.tmp-$live.$start.$ns-2" ] ||
		fail "tmp: without /proc, a running process's temporary file was removed"
	rm -f "$d/store/Bad/.tmp-$live.$start.$ns-2"
else
	skip "unshare -m does not work here: temporary names judged without /proc"
fi
for f in $keep; do rm -f "$d/store/Bad/$f"; done
kill $live
# Across file systems a message's move into Bad is a copy: it keeps the
# spool file's modification time, so `queue` shows its age since arrival.
if [ -d /dev/shm ] && [ "$(stat -f -c %i /dev/shm)" != "$(stat -f -c %i "$work")" ]; then
	x=$(mktemp -d /dev/shm/ccpump-test.XXXXXX)
	shm=$x
	mkdir -p "$x/tmp" "$x/new" "$x/cur"
	d=$(fresh xfs --users "$work/users")
	rm -rf "$d/spool"
	ln -s "$x" "$d/spool"
	msg Mold 'From: old@example.org'
	touch -d '2026-11-20 10:00:00' "$d/spool/new/1764288000.Mold.test"
	"$bin" relay --spool "$x" --store "$d/store" --po "$d/po" --once --stats-interval 0 \
		--log "$d/log" || fail "xfs: relay failed"
	[ "$(stat -c %Y "$d/store/Bad/1764288000.Mold.test")" = "$(date -d '2026-11-20 10:00:00' +%s)" ] ||
		fail "xfs: the copy in Bad lost the message's time"
	rm -rf "$x"
else
	skip "/dev/shm is not a file system of its own: the moves across file systems"
fi
# A spool name that ends as a record in Bad does (.ndr, .reason) is renamed
# within new/ before it is read: in Bad, a record of a message of the
# shorter name would be written over it.  Both fail here, both stay whole.
d=$(fresh reserved --users "$work/users")
msg Mr 'From: r@example.org'
cp "$d/spool/new/1764288000.Mr.test" "$d/spool/new/1764288000.Mr.test.ndr"
printf 'X-Mark: the one named .ndr\r\n' >>"$d/spool/new/1764288000.Mr.test.ndr"
cp "$d/spool/new/1764288000.Mr.test" "$d/spool/new/1764288000.Mr.test.ndr_"
"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --once --stats-interval 0 \
	--log "$d/log" || fail "reserved: relay failed"
grep -q "new/1764288000.Mr.test.ndr: its name ends as a record in .* does: renamed 1764288000.Mr.test.ndr_1" \
	"$d/log" || fail "reserved: the rename is not logged"
grep -q "X-Mark: the one named .ndr" "$d/store/Bad/1764288000.Mr.test.ndr_1" ||
	fail "reserved: the message named .ndr was lost"
"$bin" queue --spool "$d/spool" --store "$d/store" --json | grep -q '"bad":{"count":3' ||
	fail "reserved: queue does not show 3 in Bad: $(ls "$d/store/Bad" | tr '\n' ' ')"
# A post office that stays locked: the relay defers, `queue` shows it, a
# stop leaves the messages in the spool, and a later run delivers them.
d=$(fresh locked)
gen "$d/spool" 0 40
CCPUMP_PO_FAULT="rate=1,code=4" "$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" \
	--batch 8 --retry-min 0.05 --retry-max 0.1 --stats-interval 0 --log "$d/log" &
pid=$!
wait_deferred "$d" 40 || fail "locked: queue shows $n deferred, not 40"
"$bin" queue --spool "$d/spool" --store "$d/store" | grep -q "^  1764288000.*attempt [0-9]*: " ||
	fail "locked: no deferred listing with attempts"
kill -TERM $pid
wait $pid || fail "locked: relay exited $? after SIGTERM"
[ "$(ls "$d/spool/new" | wc -l)" = 40 ] || fail "locked: deferred messages left the spool"
"$bin" queue --spool "$d/spool" --store "$d/store" --json | grep -q '"deferred":{"count":40' ||
	fail "locked: the stop dropped the deferral markers"
grep -q '^first [0-9]' "$d/store/Deferred/1764288000.M7P77.test" || fail "locked: marker without its first attempt"
"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --once --stats-interval 0 \
	--log "$d/log" || fail "locked: second run failed"
[ "$(field "$d/po" 'distinct keys')" = 40 ] || fail "locked: not delivered after the lock went"
"$bin" queue --spool "$d/spool" --store "$d/store" --json | grep -q '"deferred":{"count":0' ||
	fail "locked: deferred markers left behind"

# Retry limits hold across restarts: markers of an earlier run carry the
# attempts made and the time of the first, and a marker whose message has
# left the spool is dropped.
d=$(fresh limits)
gen "$d/spool" 0 3
mkdir -p "$d/store/Deferred"
now=$(date +%s)
printf 'attempt 6\nfirst %d\nanswer 4\nreason locked\n' $((now - 60)) >"$d/store/Deferred/1764288000.M0P77.test"
printf 'attempt 1\nfirst %d\nanswer 4\nreason locked\n' $((now - 7200)) >"$d/store/Deferred/1764288000.M1P77.test"
printf 'attempt 9\nfirst %d\nanswer 4\nreason locked\n' $((now - 60)) >"$d/store/Deferred/1764288000.M99P77.gone"
# A spool whose new/ cannot be read (not mounted yet, not a directory):
# which messages still wait is not known, so no marker goes; the relay
# refuses to start.
mv "$d/spool/new" "$d/spool/new.away" && : >"$d/spool/new"
"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --once --stats-interval 0 \
	--log "$d/log" 2>/dev/null && fail "limits: a relay started on a spool without new/"
[ "$(ls "$d/store/Deferred" | wc -l)" = 3 ] ||
	fail "limits: markers removed while new/ could not be read: $(ls "$d/store/Deferred")"
rm "$d/spool/new" && mv "$d/spool/new.away" "$d/spool/new"
CCPUMP_PO_FAULT="rate=1,code=4" "$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --once \
	--max-attempts 5 --max-age 3600 --retry-min 0.01 --retry-max 0.02 --stats-interval 0 \
	--log "$d/log" || fail "limits: relay failed"
grep -q "after attempt 7 " "$d/store/Bad/1764288000.M0P77.test.reason" ||
	fail "limits: 6 earlier attempts not counted: $(cat "$d/store/Bad/1764288000.M0P77.test.reason" 2>&1)"
grep -q "after attempt 2 " "$d/store/Bad/1764288000.M1P77.test.reason" ||
	fail "limits: the earlier run's age not counted: $(cat "$d/store/Bad/1764288000.M1P77.test.reason" 2>&1)"
grep -q "after attempt 5 " "$d/store/Bad/1764288000.M2P77.test.reason" ||
	fail "limits: a fresh message did not get its 5 attempts"
[ -z "$(ls -A "$d/store/Deferred")" ] || fail "limits: markers left: $(ls "$d/store/Deferred")"
grep -q "1 markers of messages no longer waiting removed" "$d/log" || fail "limits: stale marker not reported"
# An import program that answers without a word: its answer is the reason
# kept in the marker, in Bad and in the report (an answer other than 0, 1,
# 3, 4 and 5 is taken as 1, and says so).
d=$(fresh silent)
gen "$d/spool" 0 2
printf '#!/bin/sh
grep -q M0P77 "$1" && exit 2
exit 1
' >"$d/import.sh"
chmod +x "$d/import.sh"
"$bin" relay --spool "$d/spool" --store "$d/store" --import-cmd "$d/import.sh" --once --batch 1 \
	--max-attempts 2 --retry-min 0.01 --retry-max 0.02 --stats-interval 0 --log "$d/log" ||
	fail "silent: relay failed"
grep -qx "retries ended after attempt 2 (the last: the import command answered 2, taken as 1)" \
	"$d/store/Bad/1764288000.M0P77.test.reason" ||
	fail "silent: M0's reason: $(cat "$d/store/Bad/1764288000.M0P77.test.reason" 2>&1)"
grep -qx "retries ended after attempt 2 (the last: the import answered 1)" \
	"$d/store/Bad/1764288000.M1P77.test.reason" ||
	fail "silent: M1's reason: $(cat "$d/store/Bad/1764288000.M1P77.test.reason" 2>&1)"
grep -q "Reason: retries ended after attempt 2 (the last: the import answered 1)" \
	"$d/store/Bad/1764288000.M1P77.test.ndr" || fail "silent: the report lacks the reason"

echo "2b. import answers 3 and 5: retried, or to Bad with: $undreason; requeued once known: delivered;"
echo "    reports sent by --bounce-cmd to Return-Path or From, never to <> or an option-like address;"
echo "    one that failed with 75 kept queued and sent by the next run"
echo "2c. a locked post office: 40 deferred, shown by ccpump queue, kept over a stop, delivered later"
echo "2d. retry limits across a restart: earlier attempts and age counted, a stale marker dropped"

# `queue --flush` (SIGUSR1): deferred messages whose next try is an hour
# away are sent again at once, once the import works again.  Before any
# relay ran, and after it stopped, there is no relay to ask: status 1.
# (One dispatcher: two import programs at once would find the post office
# locked by each other, and answer 4.)
d=$(fresh flush)
gen "$d/spool" 0 25
"$bin" queue --store "$d/store" --flush 2>"$d/flush.err" && fail "flush: no relay, yet status 0"
grep -q "no ccpump relay has run on store" "$d/flush.err" || fail "flush: $(cat "$d/flush.err")"
cat >"$d/import.sh" <<EOS
#!/bin/sh
[ -f "$d/broken" ] && exit 4
exec "$bin" import --po "$d/po" "\$1"
EOS
chmod +x "$d/import.sh"
touch "$d/broken"
"$bin" relay --spool "$d/spool" --store "$d/store" --import-cmd "$d/import.sh" --batch 10 \
	--dispatchers 1 --retry-min 3600 --retry-max 3600 --stats-interval 0 --log "$d/log" &
pid=$!
wait_deferred "$d" 25 || fail "flush: $n deferred, not 25"
rm "$d/broken"
"$bin" queue --store "$d/store" --flush >"$d/flush.out" || fail "flush: queue --flush failed"
grep -q "(pid $pid)" "$d/flush.out" || fail "flush: $(cat "$d/flush.out")"
wait_empty "$d/spool" 30 || fail "flush: the deferred messages were not retried"
grep -q "flush: retrying 25 deferred messages now" "$d/log" || fail "flush: no log line"
kill -TERM $pid
wait $pid || fail "flush: relay exited $?"
[ "$(field "$d/po" 'distinct keys')" = 25 ] || fail "flush: not all delivered"
[ "$(field "$d/po" 'duplicate deliveries')" = 0 ] || fail "flush: duplicates"
"$bin" queue --store "$d/store" --flush 2>"$d/flush.err" && fail "flush: relay gone, yet status 0"
grep -q "no ccpump relay is running on store" "$d/flush.err" || fail "flush: $(cat "$d/flush.err")"
# A relay.lock whose pid is the queue command's own (a stale lock, the pid
# reused): no relay, not a signal to itself.
sh -c 'echo $$ >"$1/store/relay.lock"; exec "$2" queue --store "$1/store" --flush' sh "$d" "$bin" \
	>/dev/null 2>"$d/self.err"
rc=$?
[ $rc = 1 ] || fail "flush: with its own pid in relay.lock, queue --flush exited $rc"
grep -q "no ccpump relay is running on store" "$d/self.err" || fail "flush: $(cat "$d/self.err")"
# A stale relay.lock whose pid now belongs to another process that has the
# file open without its lock (another `ccpump queue`, reading it): not the
# relay, and not to be signalled (SIGUSR1 would end a sleep).
sleep 60 9<"$d/store/relay.lock" &
other=$!
echo $other >"$d/store/relay.lock"
"$bin" queue --store "$d/store" --flush >/dev/null 2>"$d/other.err"
rc=$?
kill -0 $other 2>/dev/null || fail "flush: signalled pid $other, which only had relay.lock open"
kill $other; wait $other 2>/dev/null
[ $rc = 1 ] || fail "flush: with an unlocked reader's pid in relay.lock, queue --flush exited $rc"
grep -q "no ccpump relay is running on store" "$d/other.err" || fail "flush: $(cat "$d/other.err")"
echo "2g. queue --flush: 25 messages deferred for an hour retried at once, each delivered once"

# ---- 3. bad spool entries ------------------------------------------------
d=$(fresh badentries)
gen "$d/spool" 0 50
ln -s /etc/passwd "$d/spool/new/1764288000.Msymlink.test"
mkfifo "$d/spool/new/1764288000.Mfifo.test"
mkdir "$d/spool/new/1764288000.Mdir.test"
: >"$d/spool/new/1764288000.Mempty.test"
head -c 300000 /dev/urandom >"$d/spool/new/1764288000.Mbinary.test"
head -c 2000000 /dev/zero | tr '\0' 'x' >"$d/spool/new/1764288000.Mhuge.test"
chmod 000 "$d/spool/new/1764288000.Mbinary.test"
"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --once --stats-interval 0 \
	--max-message-size 1M --log "$d/log" || fail "bad entries: relay failed"
for k in symlink fifo dir; do
	[ -e "$d/store/Quarantine/1764288000.M$k.test" ] || [ -L "$d/store/Quarantine/1764288000.M$k.test" ] ||
		fail "bad entries: $k not quarantined"
	grep -q "1764288000.M$k.test is a" "$d/log" || fail "bad entries: no reason logged for $k"
done
for k in empty huge binary; do
	[ -s "$d/store/Bad/1764288000.M$k.test.reason" ] || fail "bad entries: $k has no reason in Bad"
done
[ "$(field "$d/po" 'distinct keys')" = 50 ] || fail "bad entries: good messages not all delivered"
q=$("$bin" queue --spool "$d/spool" --store "$d/store" --json)
printf '%s' "$q" | grep -q '"bad":{"count":3,' || fail "bad entries: queue does not show 3 bad: $q"
printf '%s' "$q" | grep -q '"quarantined":{"count":3,' || fail "bad entries: queue does not show 3 quarantined"
[ -z "$(ls -A "$d/spool/new")" ] || fail "bad entries: spool not empty"
# Entries in new/ that are not files are no messages waiting (before a
# relay quarantines them, or one it cannot move): queue does not count them.
mkdir "$d/spool/new/1764288000.Mdir2.test" && mkfifo "$d/spool/new/1764288000.Mfifo2.test"
q=$("$bin" queue --spool "$d/spool" --store "$d/store" --json)
printf '%s' "$q" | grep -q '"waiting":{"count":0,' || fail "bad entries: a directory and a fifo waiting: $q"
rmdir "$d/spool/new/1764288000.Mdir2.test" && rm "$d/spool/new/1764288000.Mfifo2.test"
echo "3. bad entries: symlink, fifo, directory quarantined; empty, huge, unreadable binary to Bad"
# A reason longer than a line of the listing: its start, cut between two
# characters and marked "...", not the last piece of it.
printf 'x\r\n' >"$d/store/Bad/1764288000.Mlong.test"
{ printf 'START'; for ((i = 0; i < 600; i++)); do printf '\303\251'; done; printf 'END\n'; } \
	>"$d/store/Bad/1764288000.Mlong.test.reason"
line=$("$bin" queue --spool "$d/spool" --store "$d/store" --list 10 | grep -a 'Mlong.test')
case "$line" in *" START"*$'\303\251'...) ;; *) fail "queue: a long reason listed as: $line" ;; esac
printf '%s' "$line" | python3 -c 'import sys; sys.stdin.buffer.read().decode("utf-8")' ||
	fail "queue: a long reason cut inside a character: $line"
rm "$d/store/Bad/1764288000.Mlong.test" "$d/store/Bad/1764288000.Mlong.test.reason"
# Before the relay's first run the store does not exist: nothing is
# deferred or bad, said on stderr; a file where a directory belongs is an error.
q=$("$bin" queue --spool "$d/spool" --store "$d/no-store-yet" --json 2>"$d/q.err") ||
	fail "queue: a store not made yet is an error"
printf '%s' "$q" | grep -q '"deferred":{"count":0,' || fail "queue: no store, yet deferred: $q"
grep -q "does not exist yet" "$d/q.err" || fail "queue: no note for a store not made yet"
rc=0; "$bin" queue --spool "$d/spool" --store "$d/store/Bad/1764288000.Mempty.test.reason" \
	2>/dev/null || rc=$?
[ "$rc" = 2 ] || fail "queue: a file as the store gives status $rc, not 2"
# A stats file that could never be written: status 2 before anything is made.
"$bin" relay --spool "$work/sf/spool" --store "$work/sf/store" --po "$work/sf/po" --once \
	--stats-file "$work/no/such/dir/stats.json" 2>"$work/sf.err"
rc=$?
[ $rc = 2 ] || fail "stats file: a relay with an unwritable --stats-file exited $rc, not 2"
grep -q "stats file $work/no/such/dir/stats.json: cannot write" "$work/sf.err" ||
	fail "stats file: the refusal: $(cat "$work/sf.err")"
[ ! -e "$work/sf" ] || fail "stats file: the relay made directories before it refused"
# A size limit past what the converter's decoders take (4 GiB - 1): refused.
rc=0
"$bin" relay --spool "$work/sz/spool" --store "$work/sz/store" --po "$work/sz/po" --once \
	--max-message-size 4294967296 2>"$work/sz.err" || rc=$?
[ "$rc" = 2 ] && grep -q -- "--max-message-size: '4294967296' is not a size from 1 to 4294967295 octets" \
	"$work/sz.err" || fail "max size: rc $rc: $(cat "$work/sz.err")"
# With K, M or G as --batch-bytes takes them: 4G is one octet too many.
rc=0
"$bin" relay --spool "$work/sz/spool" --store "$work/sz/store" --po "$work/sz/po" --once \
	--max-message-size 4G 2>"$work/sz.err" || rc=$?
[ "$rc" = 2 ] && grep -q -- "--max-message-size: '4G' is not a size" "$work/sz.err" ||
	fail "max size 4G: rc $rc: $(cat "$work/sz.err")"
echo "3a. ccpump queue before the first run: empty, with a note; a file as the store, an unwritable stats file: status 2"

# ---- 3b. a spool file that changes after it was read and imported ------
# (Changes while it is read are tested by test_spool_change.)  The import
# program plays a writer that appends to one spool file before importing
# the batch that holds it (so after the relay has read it).
d=$(fresh changed)
gen "$d/spool" 0 20
victim="$d/spool/new/1764288000.M7P77.test"
cat >"$d/import.sh" <<EOS
#!/bin/sh
grep -q 'X-Spool-Id: 1764288000.M7P77.test' "\$1" && [ ! -f "$d/appended" ] && {
	printf 'late line\r\n' >>"$victim"; : >"$d/appended"; }
exec "$bin" import --po "$d/po" "\$1"
EOS
chmod +x "$d/import.sh"
# One dispatcher: with two, the import that appends can meet the other
# dispatcher's at the lock and answer 4; the retry then reads the file
# with its late line and delivers that, which is right, but not this case.
"$bin" relay --spool "$d/spool" --store "$d/store" --import-cmd "$d/import.sh" --once \
	--dispatchers 1 --stats-interval 0 --log "$d/log" || fail "changed: relay failed"
[ -f "$d/store/Bad/1764288000.M7P77.test" ] || fail "changed: not kept in Bad"
grep -q 'late line' "$d/store/Bad/1764288000.M7P77.test" || fail "changed: the late line was lost"
grep -q 'changed after its delivery' "$d/store/Bad/1764288000.M7P77.test.reason" ||
	fail "changed: no reason in Bad"
grep -q 'changed after its delivery' "$d/log" || fail "changed: not logged"
[ -z "$(ls -A "$d/spool/new")" ] || fail "changed: spool not empty"
[ "$(field "$d/po" 'distinct keys')" = 20 ] || fail "changed: not 20 messages delivered"
[ "$(field "$d/po" 'duplicate deliveries')" = 0 ] || fail "changed: duplicates"
# It was delivered before it changed: requeued under its name, the post
# office would skip it as a duplicate and its new text would be lost, so
# `queue --requeue` refuses it and says what to do instead.
"$bin" queue --spool "$d/spool" --store "$d/store" --requeue-all >/dev/null 2>"$d/rq.err" &&
	fail "changed: requeued a message delivered before it changed"
grep -q "delivered before it changed" "$d/rq.err" || fail "changed: requeue said $(cat "$d/rq.err")"
[ -f "$d/store/Bad/1764288000.M7P77.test.reason" ] || fail "changed: the refused requeue took the reason"
echo "3b. a spool file changed after its import: kept in Bad with the reason, delivered once, not requeued"

# ---- 3b2. changed after its import, and it cannot go to Bad -------------
# Made immutable by the import program, after the append: Bad (neither its
# reason nor the file can go there), or the file itself (its reason can,
# the file cannot leave new/).  The file waits in new/, marked failed, and
# is not relayed again by a rescan or a later run; once it can, it goes to
# Bad, with its reason.
changed_stuck() { # changed_stuck OBSTACLE: Bad or file
	local obstacle=$1 d victim what said
	d=$(fresh "changed-stuck-$obstacle")
	gen "$d/spool" 0 5
	victim="$d/spool/new/1764288000.M3P77.test"
	what=$d/store/Bad
	[ "$obstacle" = file ] && what=$victim
	cat >"$d/import.sh" <<EOS
#!/bin/sh
grep -q 'X-Spool-Id: 1764288000.M3P77.test' "\$1" && echo >>"$d/imports"
grep -q 'X-Spool-Id: 1764288000.M3P77.test' "\$1" && [ ! -f "$d/appended" ] && {
	printf 'late line\r\n' >>"$victim"; : >"$d/appended"; chattr +i "$what"; }
exec "$bin" import --po "$d/po" "\$1"
EOS
	chmod +x "$d/import.sh"
	mkdir -p "$d/store/Bad"
	stuck_run() {
		"$bin" relay --spool "$d/spool" --store "$d/store" --import-cmd "$d/import.sh" \
			--once --dispatchers 1 --stats-interval 0 --log "$d/log" "$@" ||
			{ chattr -i "$what"; fail "changed-stuck-$obstacle: relay failed"; }
	}
	stuck_run --rescan-interval 0.05
	stuck_run
	chattr -i "$what"
	[ "$(wc -l <"$d/imports")" = 1 ] ||
		fail "changed-stuck-$obstacle: imported $(wc -l <"$d/imports") times"
	[ -f "$victim" ] || fail "changed-stuck-$obstacle: gone from new/ while it could not go to Bad"
	said="its reason cannot be written to"
	[ "$obstacle" = file ] && said="cannot be moved to"
	[ "$(grep -c "M3P77.test changed after its delivery .* $said .*; it waits in new/, not relayed again" "$d/log")" = 1 ] ||
		fail "changed-stuck-$obstacle: $(grep -e error -e warn "$d/log")"
	stuck_run
	[ ! -e "$victim" ] || fail "changed-stuck-$obstacle: still in new/ once it could go to Bad"
	grep -q 'late line' "$d/store/Bad/1764288000.M3P77.test" ||
		fail "changed-stuck-$obstacle: not in Bad"
	grep -q 'changed after its delivery' "$d/store/Bad/1764288000.M3P77.test.reason" ||
		fail "changed-stuck-$obstacle: in Bad without its reason"
	[ "$(wc -l <"$d/imports")" = 1 ] || fail "changed-stuck-$obstacle: imported again"
	[ -z "$(ls -A "$d/store/Delivered")" ] || fail "changed-stuck-$obstacle: marker left"
}
mkdir -p "$work/.chattr"
if chattr +i "$work/.chattr" 2>/dev/null && chattr -i "$work/.chattr"; then
	changed_stuck Bad
	changed_stuck file
	echo "3b2. changed after its import while it could not go to Bad (Bad, or the file, immutable): waited in new/, not relayed again, then went there with its reason"
fi

# ---- 3b3. changed after its import, and its reason cannot be written -----
# (A directory in the way of Bad/NAME.reason.)  Moved to Bad now, it would
# be there without why, and a requeue would hand its new text to a post
# office that skips it.  It waits in new/, marked failed with its reason,
# is not relayed again, and goes to Bad with its reason once that can be
# written.
d=$(fresh changed-noreason)
gen "$d/spool" 0 5
victim="$d/spool/new/1764288000.M2P77.test"
cat >"$d/import.sh" <<EOS
#!/bin/sh
grep -q 'X-Spool-Id: 1764288000.M2P77.test' "\$1" && echo >>"$d/imports"
grep -q 'X-Spool-Id: 1764288000.M2P77.test' "\$1" && [ ! -f "$d/appended" ] && {
	printf 'late line\r\n' >>"$victim"; : >"$d/appended"; }
exec "$bin" import --po "$d/po" "\$1"
EOS
chmod +x "$d/import.sh"
mkdir -p "$d/store/Bad/1764288000.M2P77.test.reason"
noreason() {
	"$bin" relay --spool "$d/spool" --store "$d/store" --import-cmd "$d/import.sh" --once \
		--dispatchers 1 --stats-interval 0 --log "$d/log" "$@" || fail "changed-noreason: relay failed"
}
noreason --rescan-interval 0.05
noreason
[ -f "$victim" ] || fail "changed-noreason: moved to Bad without its reason"
[ ! -e "$d/store/Bad/1764288000.M2P77.test" ] || fail "changed-noreason: in Bad without its reason"
[ "$(wc -l <"$d/imports")" = 1 ] || fail "changed-noreason: imported $(wc -l <"$d/imports") times"
[ "$(grep -c "M2P77.test changed after its delivery .*, and its reason cannot be written to .*; it waits in new/, not relayed again" "$d/log")" = 1 ] ||
	fail "changed-noreason: $(grep -e error -e warn "$d/log")"
grep -q "1 messages that changed after their delivery are still in new/" "$d/log" ||
	fail "changed-noreason: the second run's start did not say so"
"$bin" queue --spool "$d/spool" --store "$d/store" --json | grep -q '"failed_not_moved":{"count":1,' ||
	fail "changed-noreason: queue: $("$bin" queue --spool "$d/spool" --store "$d/store" --json)"
# Written to once more while it waits: still the same file (its inode),
# still not relayed.
printf 'later line\r\n' >>"$victim"
noreason
[ -f "$victim" ] || fail "changed-noreason: changed again, moved to Bad without its reason"
[ "$(wc -l <"$d/imports")" = 1 ] || fail "changed-noreason: changed again, imported again"
# An older message's reason under the name is not taken for its own.
rmdir "$d/store/Bad/1764288000.M2P77.test.reason"
echo "spool file 1764288000.M2P77.test is empty" >"$d/store/Bad/1764288000.M2P77.test.reason"
noreason
[ ! -e "$victim" ] || fail "changed-noreason: still in new/ once its reason could be written"
grep -q 'later line' "$d/store/Bad/1764288000.M2P77.test" || fail "changed-noreason: not in Bad"
grep -q '^changed after its delivery (.*): the post office holds the [0-9]* bytes read before; this version was not delivered$' \
	"$d/store/Bad/1764288000.M2P77.test.reason" ||
	fail "changed-noreason: its reason: $(cat "$d/store/Bad/1764288000.M2P77.test.reason" 2>&1)"
[ "$(wc -l <"$d/imports")" = 1 ] || fail "changed-noreason: imported again"
[ -z "$(ls -A "$d/store/Delivered")" ] || fail "changed-noreason: marker left"
[ "$(field "$d/po" 'distinct keys')" = 5 ] || fail "changed-noreason: not 5 messages delivered"
[ "$(field "$d/po" 'duplicate deliveries')" = 0 ] || fail "changed-noreason: duplicates"
# `ccpump queue` trusts a marker only for the file it was written for: a
# marker left for another file under the name (the relay removes it when
# it next reads the name) does not make this one delivered.
printf 'From: s@example.org\r\nTo: alice@example.org\r\n\r\nhi\r\n' \
	>"$d/spool/new/1764288000.Mstale.test"
printf 'ino 1\nsize 1\nmtime_ns 1\n' >"$d/store/Delivered/1764288000.Mstale.test"
q=$("$bin" queue --spool "$d/spool" --store "$d/store" --json)
case $q in
*'"waiting":{"count":1,'*'"delivered_not_removed":{"count":0,'*) ;;
*) fail "changed-noreason: with a stale marker, queue says $q" ;;
esac
echo "3b3. changed after its import, its reason blocked: waited in new/, then went to Bad with its reason"

# ---- 3e. a delivered message whose spool file cannot be removed ---------
# (here immutable, where the file system has the attribute).  Rescans find
# it again and again: it is marked delivered in STORE/Delivered and never
# imported again, in this run or the next; once it can be removed it goes,
# its marker with it.
# A name that ends as a record in Bad does, which cannot be renamed (it is
# immutable too), is not relayed under it: it waits, and once it can be
# renamed it is relayed under its new name, once.  (Relayed under its own
# name first, a rename after a crash would deliver it again.)
d=$(fresh stuck)
gen "$d/spool" 0 3
stuck="$d/spool/new/1764288000.M1P77.test"
mv "$d/spool/new/1764288000.M2P77.test" "$d/spool/new/1764288000.M2P77.test.ndr"
stuck2="$d/spool/new/1764288000.M2P77.test.ndr"
if chattr +i "$stuck" 2>/dev/null && chattr +i "$stuck2"; then
	cat >"$d/import.sh" <<EOS
#!/bin/sh
grep -q 'X-Spool-Id: 1764288000.M1P77.test' "\$1" && echo >>"$d/imports"
grep -q 'X-Spool-Id: 1764288000.M2P77.test.ndr' "\$1" && echo >>"$d/imports2"
exec "$bin" import --po "$d/po" "\$1"
EOS
	chmod +x "$d/import.sh"
	"$bin" relay --spool "$d/spool" --store "$d/store" --import-cmd "$d/import.sh" \
		--rescan-interval 0.05 --stats-interval 0 --log "$d/log" &
	pid=$!
	within10 test -f "$d/store/Delivered/1764288000.M1P77.test"
	sleep 1 # twenty rescans that find it again
	kill -TERM $pid
	wait $pid || { chattr -i "$stuck"; fail "stuck: relay exited $?"; }
	# The marker must not depend on the device number, which a reboot or
	# remount can change: one that names another device (as markers that
	# held it did) still keeps the file from a second import.
	marker="$d/store/Delivered/1764288000.M1P77.test"
	{ echo "dev 4242"; cat "$marker"; } >"$d/marker" && mv "$d/marker" "$marker"
	"$bin" relay --spool "$d/spool" --store "$d/store" --import-cmd "$d/import.sh" --once \
		--stats-interval 0 --log "$d/log" || { chattr -i "$stuck"; fail "stuck: second run failed"; }
	[ -f "$stuck" ] || fail "stuck: an immutable file was removed"
	chattr -i "$stuck" "$stuck2"
	[ -f "$d/store/Delivered/1764288000.M1P77.test" ] || fail "stuck: no marker in Delivered"
	"$bin" queue --spool "$d/spool" --store "$d/store" --json |
		grep -q '"waiting":{"count":1,.*"delivered_not_removed":{"count":1,' ||
		fail "stuck: queue: $("$bin" queue --spool "$d/spool" --store "$d/store" --json)"
	[ "$(wc -l <"$d/imports")" = 1 ] || fail "stuck: imported $(wc -l <"$d/imports") times"
	grep -q "new/1764288000.M1P77.test: cannot remove: .*; delivered, marked so in " "$d/log" ||
		fail "stuck: the failed removal is not logged"
	# Said once, not at each of the rescans that settle it again.
	[ "$(grep -c "cannot remove" "$d/log")" = 1 ] ||
		fail "stuck: the failed removal logged $(grep -c "cannot remove" "$d/log") times"
	! grep "none imported" "$d/log" || fail "stuck: a batch line at each rescan"
	[ ! -e "$d/imports2" ] || fail "stuck: the one named .ndr was relayed under its name"
	grep -q "M2P77.test.ndr: its name ends as a record in .* cannot be renamed (Operation not permitted): left in new/, not relayed" \
		"$d/log" || fail "stuck: the name that cannot be renamed is not logged"
	grep -q "1 messages delivered before are still in new/" "$d/log" ||
		fail "stuck: the second run did not say it found the marker"
	"$bin" relay --spool "$d/spool" --store "$d/store" --import-cmd "$d/import.sh" --once \
		--stats-interval 0 --log "$d/log" || fail "stuck: third run failed"
	[ ! -e "$stuck" ] || fail "stuck: left in new/ once it could be removed"
	[ -z "$(ls -A "$d/store/Delivered")" ] || fail "stuck: marker left: $(ls -A "$d/store/Delivered")"
	[ "$(wc -l <"$d/imports")" = 1 ] || fail "stuck: imported again when removed"
	[ "$(wc -l <"$d/imports2")" = 1 ] || fail "stuck: the one named .ndr imported $(wc -l <"$d/imports2") times"
	[ -z "$(ls -A "$d/spool/new")" ] || fail "stuck: left in new/: $(ls -A "$d/spool/new")"
	[ "$(field "$d/po" 'distinct keys')" = 3 ] || fail "stuck: not 3 messages delivered"
	[ "$(field "$d/po" 'duplicate deliveries')" = 0 ] || fail "stuck: duplicates"
	echo "3e. a delivered message that cannot leave the spool: marked delivered, imported once"
fi

# ---- 3e1. a delivered message that cannot leave the spool, written to ----
# Its marker names it by inode, size and mtime.  A writer that breaks the
# Maildir rule and appends to it afterwards leaves the inode as it was:
# the file is the delivered one, changed after its delivery, and goes to
# Bad with that reason, never imported again (the post office would skip
# the new text as a duplicate, or an import program deliver it twice).
# Each run is a new process: the start-up keeps such a marker.
d=$(fresh changedstuck)
gen "$d/spool" 0 1
cs="$d/spool/new/1764288000.M0P77.test"
if chattr +i "$d/spool/new" 2>/dev/null; then
	counting_import "$d"
	cs_run() { once_stuck "$d" "changedstuck ($1)"; }
	cs_run 1
	[ -f "$d/store/Delivered/1764288000.M0P77.test" ] || fail "changedstuck: no marker"
	printf 'a line written after its delivery\r\n' >>"$cs"
	cs_run 2 # moving it to Bad fails: marked failed, its reason already in Bad
	head -1 "$d/store/Delivered/1764288000.M0P77.test" | grep -qx failed ||
		fail "changedstuck: not marked failed: $(cat "$d/store/Delivered/1764288000.M0P77.test")"
	printf 'and another\r\n' >>"$cs"
	cs_run 3
	chattr -i "$d/spool/new"
	cs_run 4
	[ "$(wc -l <"$d/imports")" = 1 ] || fail "changedstuck: imported $(wc -l <"$d/imports") times"
	[ ! -e "$cs" ] || fail "changedstuck: left in new/"
	grep -q "a line written after its delivery" "$d/store/Bad/1764288000.M0P77.test" ||
		fail "changedstuck: not in Bad as changed"
	grep -q "^changed after its delivery (size " "$d/store/Bad/1764288000.M0P77.test.reason" ||
		fail "changedstuck: reason: $(cat "$d/store/Bad/1764288000.M0P77.test.reason")"
	[ -z "$(ls -A "$d/store/Delivered")" ] || fail "changedstuck: marker left"
	[ "$(field "$d/po" 'skipped duplicates')" = 0 ] || fail "changedstuck: relayed again"
	echo "3e1. a delivered message that cannot leave the spool, written to later: to Bad, imported once"
else
	skip "chattr +i does not work here: a delivered file written to later"
fi

# ---- 3e1b. a new file under a delivered one's name and inode number ------
# A delivered file that could not leave new/ is removed by hand once it
# can be, and a new message is put under its name.  ext4 gives the new
# file the inode number just freed, and its marker, not yet removed,
# names that number: by inode, size and mtime alone the new message looked
# like the delivered one written to since, and went to Bad "changed after
# its delivery".  The marker's birth time tells them apart: it is relayed
# as the new message it is.  (Where ext4 gives it another number, the
# marker is made to name the new one, as a stale marker on a reused number
# reads.)  A marker without a birth time, as relays wrote them before,
# still names its own file.  Skipped where the file system keeps no birth
# time.
d=$(fresh reused)
gen "$d/spool" 0 1
ru="$d/spool/new/1764288000.M0P77.test"
if [ "$(stat -c %W "$ru")" = 0 ] || [ "$(stat -c %W "$ru")" = '?' ]; then
	skip "no birth time on this file system: a new file on a delivered one's inode number"
elif chattr +i "$d/spool/new" 2>/dev/null; then
	counting_import "$d"
	ru_run() { once_stuck "$d" "reused ($1)"; }
	marker="$d/store/Delivered/1764288000.M0P77.test"
	ru_run 1
	[ -f "$marker" ] || { chattr -i "$d/spool/new"; fail "reused: no marker"; }
	cp "$marker" "$d/marker.relay"
	# As an older relay wrote it: no birth time.  It still names the file.
	grep -v '^btime_ns ' "$d/marker.relay" >"$marker"
	ru_run 2
	chattr -i "$d/spool/new"
	[ "$(wc -l <"$d/imports")" = 1 ] || fail "reused: an older marker's file imported again"
	[ -f "$marker" ] || fail "reused: an older marker's file taken for another"
	ino=$(stat -c %i "$ru")
	rm "$ru"
	printf 'From: s@example.org\r\nTo: bob@example.org\r\nSubject: another\r\n\r\nanother message\r\n' \
		>"$d/spool/tmp/another"
	mv "$d/spool/tmp/another" "$ru"
	sed "s/^ino .*/ino $(stat -c %i "$ru")/" "$d/marker.relay" >"$marker"
	[ "$(stat -c %i "$ru")" = "$ino" ] || echo "   (3e1b: ext4 gave the new file another inode number; the marker names it)"
	"$bin" queue --spool "$d/spool" --store "$d/store" --json |
		grep -q '"waiting":{"count":1,.*"delivered_not_removed":{"count":0,.*"failed_not_moved":{"count":0,' ||
		fail "reused: queue: $("$bin" queue --spool "$d/spool" --store "$d/store" --json)"
	ru_run 3
	[ ! -e "$d/store/Bad/1764288000.M0P77.test" ] ||
		fail "reused: a new message sent to Bad: $(cat "$d/store/Bad/1764288000.M0P77.test.reason")"
	[ ! -e "$ru" ] || fail "reused: left in new/"
	[ "$(wc -l <"$d/imports")" = 2 ] || fail "reused: the new message imported $(($(wc -l <"$d/imports") - 1)) times"
	[ -z "$(ls -A "$d/store/Delivered")" ] || fail "reused: marker left"
	# Alice got the first message, Bob the new one, each once.
	[ "$(field "$d/po" delivered)" = 2 ] && [ "$(field "$d/po" 'duplicate deliveries')" = 0 ] ||
		fail "reused: $("$bin" po stats --po "$d/po" | tr '\n' ' ')"
	echo "3e1b. a new file under a delivered one's name and inode number: relayed as new; an older marker still names its file"
else
	skip "chattr +i does not work here: a new file under a delivered one's name and inode number"
fi

# Spool file KEY of relay DIR settled in Bad once: out of new/, in Bad with
# its reason, no marker left in Delivered/, one report sent.
bad_once() { # bad_once DIR KEY TAG
	[ ! -e "$1/spool/new/$2" ] || fail "$3: left in new/"
	[ -e "$1/store/Bad/$2" ] || fail "$3: not in Bad"
	[ -s "$1/store/Bad/$2.reason" ] || fail "$3: no reason in Bad"
	[ -z "$(ls -A "$1/store/Delivered")" ] || fail "$3: marker left"
	[ "$(wc -l <"$1/sent")" = 1 ] || fail "$3: $(wc -l <"$1/sent") reports sent"
}

# ---- 3e2. a message for Bad whose spool file cannot leave new/ ----------
# Its reason and report are written once and the file is marked failed:
# rescans and restarts do not convert it or send its sender another
# report; once it can be moved it goes to Bad, its marker with it.
d=$(fresh stuckbad)
stuckbad="$d/spool/new/1764288000.M5P77.test"
printf 'Return-Path: <sender@example.org>\r\nTo: alice@example.org\r\nSubject: x\r\n\r\nhi\r\n' \
	>"$d/spool/tmp/m" && mv "$d/spool/tmp/m" "$stuckbad"
if chattr +i "$stuckbad" 2>/dev/null; then
	counting_bounce "$d"
	"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --rescan-interval 0.05 \
		--bounce-cmd "$d/bounce.sh" --stats-interval 0 --log "$d/log" &
	pid=$!
	within10 test -f "$d/store/Delivered/1764288000.M5P77.test"
	sleep 1 # twenty rescans that find it again
	kill -TERM $pid
	wait $pid || { chattr -i "$stuckbad"; fail "stuckbad: relay exited $?"; }
	"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --once \
		--bounce-cmd "$d/bounce.sh" --stats-interval 0 --log "$d/log" ||
		{ chattr -i "$stuckbad"; fail "stuckbad: second run failed"; }
	chattr -i "$stuckbad"
	[ "$(grep -c 'message 1764288000.M5P77.test to Bad' "$d/log")" = 1 ] ||
		fail "stuckbad: sent to Bad $(grep -c 'message 1764288000.M5P77.test to Bad' "$d/log") times"
	[ "$(wc -l <"$d/sent")" = 1 ] || fail "stuckbad: $(wc -l <"$d/sent") reports sent"
	# A batch line for its first settling at most, not one at each rescan.
	[ "$(grep -c "none imported" "$d/log")" -le 1 ] ||
		fail "stuckbad: $(grep -c "none imported" "$d/log") batch lines for one message"
	head -1 "$d/store/Delivered/1764288000.M5P77.test" | grep -qx failed ||
		fail "stuckbad: the marker does not say failed"
	"$bin" queue --spool "$d/spool" --store "$d/store" --json |
		grep -q '"failed_not_moved":{"count":1,' ||
		fail "stuckbad: queue: $("$bin" queue --spool "$d/spool" --store "$d/store" --json)"
	grep -q "1 messages that failed before are still in new/" "$d/log" ||
		fail "stuckbad: the second run did not say it found the marker"
	"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --once \
		--bounce-cmd "$d/bounce.sh" --stats-interval 0 --log "$d/log" || fail "stuckbad: third run failed"
	bad_once "$d" 1764288000.M5P77.test "stuckbad, once it could be moved"
	echo "3e2. a message for Bad that cannot leave the spool: marked failed, reported once"
fi

# ---- 3e3. a crash between a message's report and its move to Bad --------
# Its report is queued (and here sent) while the rest of its batch still
# imports; killed then, the relay finds the file in new/ at its next start.
# Its "failed" marker, written before the report was queued, settles it
# again without a second report.
d=$(fresh crashbad)
gen "$d/spool" 0 1
head -c 3000 /dev/zero | tr '\0' 'x' >"$d/big"
{ printf 'From: big@example.org\r\nTo: alice@example.org\r\nSubject: big\r\n\r\n'; cat "$d/big"; } \
	>"$d/spool/new/1764288000.M9P77.test"
counting_bounce "$d"
printf '#!/bin/sh\necho $$ >"%s/import.pid"\nexec sleep 30\n' "$d" >"$d/import.sh" # never answers
chmod +x "$d/import.sh"
"$bin" relay --spool "$d/spool" --store "$d/store" --import-cmd "$d/import.sh" \
	--max-message-size 2000 --bounce-cmd "$d/bounce.sh" --stats-interval 0 --log "$d/log" &
pid=$!
# Killed once the report is sent and out of the queue: a kill between the
# send and the dequeue sends it again at the next start (the window every
# MTA has between handing a message on and forgetting it), not this case.
within10 sh -c '[ -s "$1/sent" ] && [ -z "$(ls -A "$1/store/Bounce")" ]' sh "$d"
kill -KILL $pid
wait $pid 2>/dev/null
within10 test -s "$d/import.pid"
kill -KILL "$(cat "$d/import.pid")" 2>/dev/null
[ -e "$d/spool/new/1764288000.M9P77.test" ] || fail "crashbad: moved before the kill"
printf '#!/bin/sh\nexec "%s" import --po "%s/po" "$1"\n' "$bin" "$d" >"$d/import.sh"
"$bin" relay --spool "$d/spool" --store "$d/store" --import-cmd "$d/import.sh" --once \
	--max-message-size 2000 --bounce-cmd "$d/bounce.sh" --stats-interval 0 --log "$d/log" ||
	fail "crashbad: the run after the crash failed"
bad_once "$d" 1764288000.M9P77.test crashbad
[ "$(field "$d/po" 'distinct keys')" = 1 ] || fail "crashbad: the good message"
echo "3e3. killed between a message's report and its move to Bad: reported once"

# ---- 3e3a. an automatic reply whose header is long ----------------------
# Its Auto-Submitted field comes after 12 KB of Received lines: it is seen
# all the same, and no report goes back to the responder.
d=$(fresh longhead --users "$work/users")
{
	printf 'Return-Path: <ar@example.org>\r\n'
	for ((i = 0; i < 150; i++)); do
		printf 'Received: from relay%d.example.org by relay%d.example.org with ESMTP id %08d\r\n' \
			$i $((i + 1)) $i
	done
	printf 'Auto-Submitted: auto-replied\r\nFrom: ar@example.org\r\nTo: nobody@example.org\r\n'
	printf 'Subject: away\r\n\r\nhi\r\n'
} >"$d/spool/new/1764288000.Mlong.test"
[ "$(stat -c %s "$d/spool/new/1764288000.Mlong.test")" -gt 12000 ] || fail "longhead: header too short"
counting_bounce "$d"
"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --once --stats-interval 0 \
	--bounce-cmd "$d/bounce.sh" --log "$d/log" || fail "longhead: relay failed"
[ -f "$d/store/Bad/1764288000.Mlong.test" ] || fail "longhead: not in Bad"
[ ! -e "$d/sent" ] || fail "longhead: a report was sent to an automatic reply"
grep -qF "message 1764288000.Mlong.test: no report sent: it is an automatic reply itself" "$d/log" ||
	fail "longhead: $(grep -e Mlong -e report "$d/log")"
# A sender named by From alone, with a display name of 1,500 octets: the
# report still finds the address after it.
d=$(fresh longfrom --users "$work/users")
{
	printf 'From: "'
	for ((i = 0; i < 100; i++)); do printf 'Somebody Long '; done
	printf '" <long@example.org>\r\nTo: nobody@example.org\r\nSubject: x\r\n\r\nhi\r\n'
} >"$d/spool/new/1764288000.Mlongfrom.test"
counting_bounce "$d"
"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --once --stats-interval 0 \
	--bounce-cmd "$d/bounce.sh" --log "$d/log" || fail "longfrom: relay failed"
grep -qF "message 1764288000.Mlongfrom.test: report sent to long@example.org" "$d/log" ||
	fail "longfrom: $(grep -e Mlongfrom -e report "$d/log")"
echo "3e3a. an automatic reply with 12 KB of header before its Auto-Submitted: no report;"
echo "      a From with a display name of 1,500 octets: its report sent"

# ---- 3e3b. SIGTERM during --once's last sending of reports -------------
# Five reports, each command a second long: a SIGTERM once the first is
# sent ends the sending after the command in progress, the rest left
# queued for the next run, as a stop leaves them (it used to send all).
d=$(fresh termreports)
for i in 1 2 3 4 5; do
	printf 'Return-Path: <s%d@example.org>\r\nTo: alice@example.org\r\nSubject: no From\r\n\r\nhi\r\n' \
		$i >"$d/spool/new/1764288000.M${i}P78.test"
done
counting_bounce "$d" "sleep 1"
"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --once --stats-interval 0 \
	--bounce-cmd "$d/bounce.sh" --log "$d/log" &
pid=$!
within10 test -s "$d/sent" || fail "termreports: no report sent"
# Past the main loop (the spool empty, a moment for the pump to end), so
# that the SIGTERM lands in the last sending, not before it.
within10 test -z "$(ls -A "$d/spool/new")" || fail "termreports: the spool did not empty"
sleep 0.3
kill -TERM $pid
wait $pid || fail "termreports: relay exited $? on SIGTERM"
sent=$(wc -l <"$d/sent")
[ "$sent" -le 2 ] || fail "termreports: $sent reports sent after the SIGTERM"
[ "$(ls "$d/store/Bounce" | wc -l)" = $((5 - sent)) ] ||
	fail "termreports: $(ls "$d/store/Bounce" | wc -l) queued, $sent sent"
echo "3e3b. SIGTERM during --once's last reports: sending ends, the rest stays queued"

# ---- 3e3c. SIGTERM while an import runs: queued messages stay ----------
# Forty messages, one a batch, an import program held until the test lets
# it go: a SIGTERM while the first import runs ends the relay after that
# batch; the other 39 stay in the spool, none imported, none in Bad, and a
# run after it delivers each of the forty exactly once.
d=$(fresh termqueued)
gen "$d/spool" 1 40
printf '#!/bin/sh
echo >>"%s/imports"
while [ ! -e "%s/go" ]; do sleep 0.05; done
exec "%s" import --po "%s/po" "$1"
' \
	"$d" "$d" "$bin" "$d" >"$d/import.sh"
chmod +x "$d/import.sh"
"$bin" relay --spool "$d/spool" --store "$d/store" --import-cmd "$d/import.sh" --batch 1 \
	--pollers 1 --dispatchers 1 --stats-interval 0 --log "$d/log" &
pid=$!
within10 test -s "$d/imports" || fail "termqueued: no import started"
kill -TERM $pid
# Let go only once the stop is asked of the pump (the line is logged after
# it): a wait of a fixed time let a loaded machine's relay see the SIGTERM
# after the held import ended, and import a second batch.
within10 grep -q 'relay: stopping: finishing the batches in flight' "$d/log" ||
	fail "termqueued: no stop logged"
: >"$d/go"
wait $pid || fail "termqueued: relay exited $? on SIGTERM"
[ "$(wc -l <"$d/imports")" = 1 ] || fail "termqueued: $(wc -l <"$d/imports") imports after the SIGTERM"
[ "$(ls "$d/spool/new" | wc -l)" = 39 ] || fail "termqueued: $(ls "$d/spool/new" | wc -l) left in new/"
[ -z "$(ls -A "$d/store/Bad")" ] || fail "termqueued: Bad holds $(ls "$d/store/Bad")"
grep -q 'relay: done: 1 delivered .*queued left in the spool' "$d/log" ||
	fail "termqueued: no done line with what was left"
"$bin" relay --spool "$d/spool" --store "$d/store" --import-cmd "$d/import.sh" --once \
	--stats-interval 0 --log "$d/log" || fail "termqueued: the run after it failed"
[ -z "$(ls -A "$d/spool/new")" ] || fail "termqueued: the run after it left $(ls "$d/spool/new" | wc -l)"
[ "$(field "$d/po" 'distinct keys')" = 40 ] || fail "termqueued: $(field "$d/po" 'distinct keys') distinct"
[ "$(field "$d/po" 'duplicate deliveries')" = 0 ] || fail "termqueued: duplicates"
echo "3e3c. SIGTERM while an import runs: that batch ends, the 39 queued stay, then once each"

# ---- 3e4. a report sent whose queue entry cannot be removed --------------
# (Bounce/ made immutable by the command itself, after it sent.)  It is
# not sent again: not by a later pass, nor by --once's last drain.
d=$(fresh stuckreport)
printf 'Return-Path: <s@example.org>\r\nTo: alice@example.org\r\nSubject: no From\r\n\r\nhi\r\n' \
	>"$d/spool/new/1764288000.M6P77.test"
counting_bounce "$d" "chattr +i '$d/store/Bounce'"
if chattr +i "$d/bounce.sh" 2>/dev/null && chattr -i "$d/bounce.sh"; then
	"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --once \
		--bounce-cmd "$d/bounce.sh" --stats-interval 0 --log "$d/log" ||
		{ chattr -i "$d/store/Bounce"; fail "stuckreport: relay failed"; }
	chattr -i "$d/store/Bounce"
	[ "$(wc -l <"$d/sent")" = 1 ] || fail "stuckreport: sent $(wc -l <"$d/sent") times"
	grep -q "its report cannot be taken out of .*; it is not sent again while this relay runs" \
		"$d/log" || fail "stuckreport: not logged"
	# A running relay, flushed three times (`queue --flush`, as after an
	# operator mended the command): still not sent again.
	d=$(fresh stuckreport-flush)
	printf 'Return-Path: <s@example.org>\r\nTo: alice@example.org\r\nSubject: no From\r\n\r\nhi\r\n' \
		>"$d/spool/new/1764288000.M6P77.test"
	counting_bounce "$d" "chattr +i '$d/store/Bounce'"
	"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --bounce-cmd "$d/bounce.sh" \
		--stats-interval 0 --log "$d/log" &
	pid=$!
	within10 grep -qs "its report cannot be taken out of" "$d/log" ||
		{ chattr -i "$d/store/Bounce"; fail "stuckreport: the running relay did not send"; }
	# Its ctime moved (a chmod here; a failed requeue's renames of the
	# .ndr aside and back do it too): still the report that was sent.
	sleep 0.01
	chmod g+r "$d/store/Bad/1764288000.M6P77.test.ndr" ||
		{ chattr -i "$d/store/Bounce"; fail "stuckreport: chmod"; }
	for i in 1 2 3; do
		"$bin" queue --spool "$d/spool" --store "$d/store" --flush >/dev/null ||
			{ chattr -i "$d/store/Bounce"; fail "stuckreport: queue --flush failed"; }
		sleep 0.3 # the flushed pass, which must not send it
	done
	kill -TERM $pid
	wait $pid
	chattr -i "$d/store/Bounce"
	[ "$(wc -l <"$d/sent")" = 1 ] || fail "stuckreport: sent $(wc -l <"$d/sent") times with flushes"
	echo "3e4. a report sent whose queue entry cannot be removed: not sent again, flushed or not"
fi

# ---- 3e4b. a file the relay may neither read nor move ------------------
# The relay runs as nobody; the file is root's (0600) in a sticky new/.  It
# goes to Bad once (its copy cannot be read: the reason alone), marked
# failed by the stamp of its name; the rescans that find it again settle
# it from that marker instead of sending it to Bad again.
d=$(fresh unreadable-stuck)
chmod 755 "$work"
f="$d/spool/new/1764288000.M1P79.test"
printf 'From: a@example.org\r\nTo: alice@example.org\r\nSubject: x\r\n\r\nhi\r\n' >"$f"
chmod 600 "$f"
mkdir -p "$d/store"
chown -R nobody: "$d" && chown root: "$f" "$d/spool/new" && chmod 1777 "$d/spool/new" ||
	fail "unreadable-stuck: cannot give the directories to nobody"
setpriv --reuid=nobody --regid=nogroup --clear-groups "$bin" relay --spool "$d/spool" \
	--store "$d/store" --po "$d/po" --rescan-interval 0.05 --stats-interval 0 --log "$d/log" &
pid=$!
within10 grep -qs "relay: spool " "$d/log" || fail "unreadable-stuck: the relay did not start"
sleep 1 # twenty rescans that find it again
kill -TERM $pid
wait $pid || fail "unreadable-stuck: relay exited $?"
[ -f "$f" ] || fail "unreadable-stuck: the file left new/"
[ "$(grep -c "M1P79.test to Bad" "$d/log")" = 1 ] ||
	fail "unreadable-stuck: sent to Bad $(grep -c "M1P79.test to Bad" "$d/log") times"
grep -q "cannot be opened: Permission denied" "$d/store/Bad/1764288000.M1P79.test.reason" ||
	fail "unreadable-stuck: Bad's reason: $(cat "$d/store/Bad/1764288000.M1P79.test.reason" 2>&1)"
head -1 "$d/store/Delivered/1764288000.M1P79.test" | grep -qx failed ||
	fail "unreadable-stuck: not marked failed"
echo "3e4b. a file the relay may neither read nor move: to Bad once, not again at each rescan"

# ---- 3e4c. a requeue that died with a message's records aside -----------
# (Made by hand here: a SIGKILL between the records' move aside and the
# message's.)  The aside names say what they hold: the relay's start-up
# puts back the records and the waiting report of a message still in Bad,
# and removes those of one that left it, or whose copy (another file
# system) had reached new/: that copy is the message.
d=$(fresh requeue-died)
printf 'Return-Path: <s@example.org>\r\nTo: alice@example.org\r\nSubject: no From\r\n\r\nhi\r\n' \
	>"$d/spool/new/1764288000.M7P80.test"
printf 'Return-Path: <s@example.org>\r\nTo: alice@example.org\r\nSubject: no From\r\n\r\nhi\r\n' \
	>"$d/spool/new/1764288000.M8P80.test"
# M11's name is too long to be written in an aside name: its asides name
# it by inode and ctime alone, and the start-up finds it in Bad by them.
m11=1764288000.M11P80.$(printf 'x%.0s' {1..200}).test
printf 'Return-Path: <s@example.org>\r\nTo: alice@example.org\r\nSubject: no From\r\n\r\nhi\r\n' \
	>"$d/spool/new/$m11"
printf '#!/bin/sh\ncat >/dev/null\nexit 75\n' >"$d/later.sh" # a sendmail that is down
chmod +x "$d/later.sh"
"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --once --stats-interval 0 \
	--bounce-cmd "$d/later.sh" --log "$d/log" || fail "requeue-died: first run failed"
[ -f "$d/store/Bounce/1764288000.M7P80.test" ] || fail "requeue-died: no report queued"
( : ) &
dead=$!
wait $dead
# An aside's name: the dead maker's temporary name, then the message as
# the requeue found it (inode and ctime in ns, hex), the record it holds
# (none for the report), and the message's name.
ident() { local ct; ct=$(stat -c %.9Z "$1"); printf '%x.%x' "$(stat -c %i "$1")" "${ct/./}"; }
m7=1764288000.M7P80.test m8=1764288000.M8P80.test m9=1764288000.M9P80.test m10=1764288000.M10P80.test
i7=$(ident "$d/store/Bad/$m7") i8=$(ident "$d/store/Bad/$m8")
for f in reason ndr; do mv "$d/store/Bad/$m7.$f" "$d/store/Bad/.tmp-$dead.1.0-1~$i7.$f~$m7"; done
mv "$d/store/Bad/$m8.reason" "$d/store/Bad/.tmp-$dead.1.0-1~$i8.reason~$m8"
mv "$d/store/Bounce/$m7" "$d/store/Bounce/.tmp-$dead.1.0-2~$i7~$m7"
mv "$d/store/Bounce/$m8" "$d/store/Bounce/.tmp-$dead.1.0-2~$i8~$m8"
mv "$d/store/Bad/$m8" "$d/gone" # M8 had left Bad
i11=$(ident "$d/store/Bad/$m11")
for f in reason ndr; do mv "$d/store/Bad/$m11.$f" "$d/store/Bad/.tmp-$dead.1.0-5~$i11.$f~"; done
mv "$d/store/Bounce/$m11" "$d/store/Bounce/.tmp-$dead.1.0-6~$i11~"
# M9 was copied into new/ (another file system: a copy keeping the mtime)
# but not yet removed from Bad: the spool's copy is the message.
printf 'From: s@example.org\r\nTo: alice@example.org\r\nSubject: nine\r\n\r\nhi\r\n' >"$d/store/Bad/$m9"
echo "reason" >"$d/store/Bad/.tmp-$dead.1.0-3~$(ident "$d/store/Bad/$m9").reason~$m9"
cp -p "$d/store/Bad/$m9" "$d/spool/new/$m9"
# M10 is in Bad again, but not the file its aside was made from (another
# requeue took it, a relay failed it again): nothing of the old goes back.
printf 'x\r\n' >"$d/store/Bad/$m10"
echo "old reason" >"$d/store/Bad/.tmp-$dead.1.0-4~0.0.reason~$m10"
counting_bounce "$d"
"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --once --stats-interval 0 \
	--bounce-cmd "$d/bounce.sh" --log "$d/log" || fail "requeue-died: second run failed"
[ -s "$d/store/Bad/$m7.reason" ] && [ -s "$d/store/Bad/$m7.ndr" ] ||
	fail "requeue-died: records not put back: $(ls -A "$d/store/Bad")"
[ -s "$d/store/Bad/$m11.reason" ] && [ -s "$d/store/Bad/$m11.ndr" ] ||
	fail "requeue-died: the long name's records not put back: $(ls -A "$d/store/Bad")"
[ "$(wc -l <"$d/sent" 2>/dev/null)" = 2 ] ||
	fail "requeue-died: $(wc -l <"$d/sent" 2>/dev/null) reports sent, not M7's and M11's alone"
[ -z "$(ls -A "$d/store/Bad" | grep '^\.tmp')" ] || fail "requeue-died: left aside: $(ls -A "$d/store/Bad")"
[ ! -e "$d/store/Bad/$m8.reason" ] && [ -z "$(ls -A "$d/store/Bounce")" ] ||
	fail "requeue-died: a record or report put back for a message gone"
grep -q "Bad/$m7.reason put back: a requeue that did not finish had put it aside" "$d/log" ||
	fail "requeue-died: not logged"
[ ! -e "$d/store/Bad/$m9" ] && [ ! -e "$d/store/Bad/$m9.reason" ] ||
	fail "requeue-died: M9 left in Bad beside its copy in the spool"
grep -q "Bad/$m9 removed: a requeue that did not finish had already put its copy into" "$d/log" ||
	fail "requeue-died: M9's removal not logged"
[ "$(field "$d/po" 'distinct keys')" = 1 ] || fail "requeue-died: M9 not delivered once"
[ ! -e "$d/store/Bad/$m10.reason" ] || fail "requeue-died: an old reason put back beside another M10"
echo "3e4c. a requeue that died midway: its message's records and report put back at start-up"

# ---- 3e5. --keep and a cur/ removed under the relay ---------------------
# The import removes cur/, so each delivered file's rename into it fails
# with ENOENT, as a vanished file's would.  The files are still in new/:
# marked delivered, not left to be imported again.  The next run, which
# makes cur/ again, moves them there without an import.
d=$(fresh keepcur)
gen "$d/spool" 0 3
cat >"$d/import.sh" <<EOS
#!/bin/sh
echo >>"$d/imports"
rm -rf "$d/spool/cur"
exec "$bin" import --po "$d/po" "\$1"
EOS
chmod +x "$d/import.sh"
"$bin" relay --spool "$d/spool" --store "$d/store" --import-cmd "$d/import.sh" --keep --once \
	--stats-interval 0 --log "$d/log" || fail "keepcur: relay exited $?"
[ "$(grep -c "cannot move to cur/: No such file or directory; delivered, marked so in " \
	"$d/log")" = 3 ] || fail "keepcur: the failed moves are not said: $(cat "$d/log")"
[ "$(ls "$d/store/Delivered" | wc -l)" = 3 ] || fail "keepcur: not marked delivered"
"$bin" relay --spool "$d/spool" --store "$d/store" --import-cmd "$d/import.sh" --keep --once \
	--stats-interval 0 --log "$d/log" || fail "keepcur: second run exited $?"
[ "$(wc -l <"$d/imports")" = 1 ] || fail "keepcur: imported $(wc -l <"$d/imports") times"
[ -z "$(ls -A "$d/spool/new")" ] || fail "keepcur: left in new/: $(ls "$d/spool/new")"
[ "$(ls "$d/spool/cur" | wc -l)" = 3 ] || fail "keepcur: $(ls "$d/spool/cur" | wc -l) in cur/"
[ -z "$(ls -A "$d/store/Delivered")" ] || fail "keepcur: markers left"
[ "$(field "$d/po" 'distinct keys')" = 3 ] || fail "keepcur: not 3 messages delivered"
# A relay left running sees cur/ (made again by the second run) go, and
# stops (status 1) for a restart.
"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --keep --rescan-interval 0.05 \
	--stats-interval 0 --log "$d/log2" &
pid=$!
within10 grep -qs "relay: spool " "$d/log2" || fail "keepcur: the running relay did not start"
rm -rf "$d/spool/cur"
wait $pid
rc=$?
[ $rc = 1 ] || fail "keepcur: the running relay exited $rc with cur/ removed"
grep -q "spool $d/spool/cur is no longer the directory this relay opened" "$d/log2" ||
	fail "keepcur: $(cat "$d/log2")"
echo "3e5. --keep with cur/ removed: delivered files marked, never imported again; a running relay stops"

# ---- 3f. retries that end while Bad cannot take the reason ---------------
# (Bad immutable, where the file system has the attribute.)  The message
# stays in the spool; rescans claim it again, but its retries are over: it
# is not imported again, and once Bad takes it, its reason is the one its
# retries ended with.
d=$(fresh badlocked)
gen "$d/spool" 0 1
cat >"$d/import.sh" <<EOS
#!/bin/sh
echo >>"$d/imports"
exit 1
EOS
chmod +x "$d/import.sh"
mkdir -p "$d/store/Bad"
if chattr +i "$d/store/Bad" 2>/dev/null; then
	"$bin" relay --spool "$d/spool" --store "$d/store" --import-cmd "$d/import.sh" --max-attempts 2 \
		--retry-min 0.01 --retry-max 0.02 --rescan-interval 0.05 --stats-interval 0 \
		--log-level debug --log "$d/log" &
	pid=$!
	# The wait is a warning once a run, and a debug line at each rescan
	# that claims the message again (test_full.sh 9).
	waits() { [ "$(grep -c "retries ended after attempt [23] .* it waits in the spool" "$d/log")" -ge 3 ]; }
	within10 waits || { chattr -i "$d/store/Bad"; fail "badlocked: not kept back three times"; }
	[ "$(wc -l <"$d/imports")" = 2 ] ||
		{ chattr -i "$d/store/Bad"; fail "badlocked: imported $(wc -l <"$d/imports") times, not 2"; }
	# Restarted while Bad is still locked: the marker brings its count back
	# (one more import ends it again), and the claims that follow keep the
	# marker, so Bad's reason is still the import's.
	kill -TERM $pid
	wait $pid || { chattr -i "$d/store/Bad"; fail "badlocked: relay exited $?"; }
	: >"$d/log"
	"$bin" relay --spool "$d/spool" --store "$d/store" --import-cmd "$d/import.sh" --max-attempts 2 \
		--retry-min 0.01 --retry-max 0.02 --rescan-interval 0.05 --stats-interval 0 \
		--log-level debug --log "$d/log" &
	pid=$!
	within10 waits || { chattr -i "$d/store/Bad"; fail "badlocked: not kept back after the restart"; }
	[ "$(wc -l <"$d/imports")" = 3 ] ||
		{ chattr -i "$d/store/Bad"; fail "badlocked: imported $(wc -l <"$d/imports") times, not 3"; }
	[ -f "$d/store/Deferred/1764288000.M0P77.test" ] ||
		{ chattr -i "$d/store/Bad"; fail "badlocked: its marker went while it waits"; }
	chattr -i "$d/store/Bad"
	within10 test -f "$d/store/Bad/1764288000.M0P77.test" || fail "badlocked: not in Bad once it could be"
	kill -TERM $pid
	wait $pid || fail "badlocked: relay exited $?"
	grep -qx "retries ended after attempt 3 (the last: the import answered 1)" \
		"$d/store/Bad/1764288000.M0P77.test.reason" ||
		fail "badlocked: reason $(cat "$d/store/Bad/1764288000.M0P77.test.reason")"
	[ "$(wc -l <"$d/imports")" = 3 ] || fail "badlocked: imported $(wc -l <"$d/imports") times, not 3"
	[ ! -e "$d/store/Deferred/1764288000.M0P77.test" ] || fail "badlocked: its marker stayed"
	# --once, as a cron job runs it: such a message is left in the spool,
	# and the run says so, with status 75.
	gen "$d/spool" 1 1
	chattr +i "$d/store/Bad"
	"$bin" relay --spool "$d/spool" --store "$d/store" --import-cmd "$d/import.sh" --once \
		--max-attempts 1 --stats-interval 0 --log "$d/log"
	rc=$?
	chattr -i "$d/store/Bad"
	[ $rc = 75 ] || fail "badlocked: --once exited $rc, not 75"
	[ -f "$d/spool/new/1764288000.M1P77.test" ] || fail "badlocked: --once did not leave it"
	grep -q "1 messages whose retries ended are left in the spool" "$d/log" ||
		fail "badlocked: --once did not say what it left"
	[ ! -e "$d/spool/new/1764288000.M0P77.test" ] || fail "badlocked: left in the spool"
	echo "3f. retries ended while Bad was locked: kept in the spool, not imported again, then to Bad"
fi

# Spool files with names no Maildir writer makes: a space, a line break,
# UTF-8, an invalid octet, a '%', and names that would collide with those
# if they were not escaped in X-Spool-Id.  Each is delivered once, none
# goes to Bad, and a log line naming one stays one line.
d=$(fresh oddnames)
odd=("x y" $'x\ny' "x%20y" $'caf\xc3\xa9' $'bad\xff' "bad?" "100%" "100%25" $'tab\there' "trail ")
for ((i = 0; i < ${#odd[@]}; i++)); do
	printf 'From: s@example.org\r\nTo: alice@example.org\r\nSubject: odd %d\r\n\r\nhi\r\n' $i \
		>"$d/spool/new/${odd[$i]}"
done
printf 'not a message at all\r\n' >"$d/spool/new/"$'evil\n2026-11-29T00:00:00.000Z ccpump[1] info: forged'
timeout 60 "$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --once --stats-interval 0 \
	--log "$d/log" || fail "odd names: relay failed or did not finish"
[ "$(field "$d/po" 'distinct keys')" = ${#odd[@]} ] ||
	fail "odd names: $(field "$d/po" 'distinct keys') of ${#odd[@]} delivered"
[ "$(field "$d/po" 'duplicate deliveries')" = 0 ] || fail "odd names: duplicates"
[ "$(field "$d/po" 'skipped duplicates')" = 0 ] || fail "odd names: a distinct file taken for a duplicate"
[ -z "$(ls -A "$d/spool/new")" ] || fail "odd names: left in the spool: $(ls -b "$d/spool/new")"
[ "$(ls -b "$d/store/Bad" | grep -vc '\.\(reason\|ndr\)$')" = 1 ] || fail "odd names: Bad holds $(ls -b "$d/store/Bad")"
! grep -q "forged" <(grep -v 'evil\\x0a2026' "$d/log") || fail "odd names: a name forged a log line"
grep -q 'evil\\x0a2026-11-29T00:00:00.000Z ccpump\[1\] info: forged' "$d/log" ||
	fail "odd names: the name with a line break not logged as one escaped line"
q=$("$bin" queue --spool "$d/spool" --store "$d/store" --list 5)
[ "$(printf '%s\n' "$q" | grep -c 'forged')" = 1 ] && printf '%s\n' "$q" | grep -q '^  evil\\x0a2026-11-29' ||
	fail "odd names: ccpump queue did not list the name escaped on one line: $q"
echo "3c. ${#odd[@]} odd spool file names delivered once each; a line break in a name cannot forge a log or queue line"

# The spool, then the post office, moved aside and a new one made in its
# place while the relay runs: the relay sees it, says so and exits 1 (a
# service manager starts it again); started again, it uses the new one.
d=$(fresh moved)
# replaced WHAT COMMAND...: runs a relay, then COMMAND while it runs; the
# relay must stop with status 1 naming WHAT.
replaced() {
	local what=$1 log=$d/log.$1 rc
	shift
	"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --rescan-interval 0.1 \
		--stats-interval 0 --log "$log" &
	pid=$!
	for ((t = 0; t < 100; t++)); do grep -qs "relay: spool" "$log" && break; sleep 0.1; done
	"$@"
	for ((t = 0; t < 100; t++)); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
	kill -0 $pid 2>/dev/null && { kill -9 $pid; fail "moved $what: the relay went on with the old one"; }
	wait $pid
	rc=$?
	[ $rc = 1 ] || fail "moved $what: the relay exited $rc, not 1"
	grep -q "the $what was moved, removed or replaced: stopping" "$log" ||
		fail "moved $what: no line saying why it stopped"
}
new_spool() {
	mv "$d/spool" "$d/spool.old"
	mkdir -p "$d/spool/tmp" "$d/spool/new" "$d/spool/cur"
	gen "$d/spool" 0 5
}
new_po() {
	mv "$d/po" "$d/po.old"
	"$bin" po init --po "$d/po" >/dev/null || fail "moved po: po init"
}
replaced spool new_spool
"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --once --stats-interval 0 \
	--log "$d/log" || fail "moved spool: the restart failed"
[ "$(field "$d/po" 'distinct keys')" = 5 ] || fail "moved spool: the new spool's 5 not delivered"
replaced "post office" new_po
gen "$d/spool" 5 3
"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --once --stats-interval 0 \
	--log "$d/log" || fail "moved po: the restart failed"
[ "$(field "$d/po" 'distinct keys')" = 3 ] || fail "moved po: the new post office did not get the 3"
echo "3d. the spool, then the post office, replaced under a running relay: exit 1, the restart uses the new ones"

# ---- 4. crash loop -------------------------------------------------------
# (A small log segment, so that delivery.log is rotated many times while
# the relay is being killed.)
d=$(fresh crash --log-segment 16384)
next=0
for round in $(seq 1 12); do
	gen "$d/spool" $next 60
	next=$((next + 60))
	"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --batch 8 --dispatchers 2 \
		--rescan-interval 0.05 --stats-interval 0 --log "$d/log" &
	pid=$!
	gen "$d/spool" $next 40 &
	gpid=$!
	sleep "0.$((RANDOM % 4 + 1))"
	kill -9 $pid
	wait $pid 2>/dev/null
	wait $gpid
	next=$((next + 40))
done
"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --once --stats-interval 0 \
	--log "$d/log" || fail "crash: final relay failed"
[ -z "$(ls -A "$d/spool/new")" ] || fail "crash: spool not empty"
[ "$(field "$d/po" 'distinct keys')" = $next ] || fail "crash: not every message delivered ($next)"
[ "$(field "$d/po" 'duplicate deliveries')" = 0 ] || fail "crash: a recipient got a message twice"
[ "$(field "$d/po" delivered)" = "$(recipients 0 $next)" ] || fail "crash: deliveries"
segs=$(field "$d/po" 'rotated log segments')
[ "$segs" -ge 3 ] || fail "crash: delivery.log rotated only $segs times"
echo "4. crash loop: 12 kills, $next messages, each recipient once, $(field "$d/po" 'skipped duplicates') redeliveries skipped by the post office, $segs log segments"
# ---- SIGHUP reopens the log (logrotate moves it away first) -------------
# The log reopened is close-on-exec as the first was: an import program
# started after the reopen has no descriptor of the relay's either.
d=$(fresh hup)
cat >"$d/import.sh" <<EOS
#!/bin/sh
ls /proc/self/fd >"$d/fds"
exec "$bin" import --po "$d/po" "\$1"
EOS
chmod +x "$d/import.sh"
"$bin" relay --spool "$d/spool" --store "$d/store" --import-cmd "$d/import.sh" --dispatchers 1 \
	--stats-interval 0.1 --log "$d/log" &
pid=$!
for ((t = 0; t < 100; t++)); do grep -qs "relay: spool" "$d/log" && break; sleep 0.1; done
mv "$d/log" "$d/log.1"
kill -HUP $pid
for ((t = 0; t < 100; t++)); do grep -qs "stats:" "$d/log" && break; sleep 0.1; done
gen "$d/spool" 0 3
wait_empty "$d/spool" 30 || fail "hup: the messages after the reopen were not delivered"
kill -TERM $pid
wait $pid || fail "hup: relay exited $?"
grep -q "stats:" "$d/log" || fail "hup: the log was not reopened"
grep -q "relay: spool" "$d/log.1" || fail "hup: the old log lost its lines"
base=$(ls /proc/self/fd | sort -n | tr '\n' ' ')
[ "$(sort -n "$d/fds" | tr '\n' ' ')" = "$base" ] ||
	fail "hup: after the reopen the import program has descriptors $(sort -n "$d/fds" | tr '\n' ' '), not $base"
echo "4b. SIGHUP reopened the log, which programs started after it do not inherit"

# ---- SIGHUP reads the --map files again ---------------------------------
# alice is Alpha's until the map says Beta and the relay is told: the
# message after that goes to Beta, with the site line the new map adds;
# a map that cannot be read leaves Beta's map in use, Gamma gets nothing.
# (Messages 0, 3 and 6 are to alice alone.)
d=$(fresh reload)
printf 'user alice@example.org Alpha, Ann at HUB\n' >"$d/map"
"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --map "$d/map" --dispatchers 1 \
	--stats-interval 0 --log "$d/log" &
pid=$!
gen "$d/spool" 0 1
wait_empty "$d/spool" 30 || fail "reload: message 0 was not delivered"
grep -q "relay: 1 --map files read: 0 native domains, 1 users" "$d/log" ||
	fail "reload: no line for the map read at start"
printf 'user alice@example.org Beta, Ann at HUB\nsite NEWSITE\nnative x.example XPO\n' >"$d/map"
kill -HUP $pid
within10 grep -q "relay: reload: 1 --map files read again: 1 native domains, 1 users" "$d/log" ||
	fail "reload: no line for the map read again"
gen "$d/spool" 3 1
wait_empty "$d/spool" 30 || fail "reload: message 3 was not delivered"
printf 'user alice@example.org Gamma, Ann at HUB\nuser bob\n' >"$d/map"
kill -HUP $pid
within10 grep -q "error: relay: reload: $d/map: line 2: .*: the map in use stays" "$d/log" ||
	fail "reload: no line for the map that could not be read"
gen "$d/spool" 6 1
wait_empty "$d/spool" 30 || fail "reload: message 6 was not delivered"
kill -TERM $pid
wait $pid || fail "reload: relay exited $?"
"$bin" po show --po "$d/po" 'Alpha, Ann at HUB' >"$d/alpha" || fail "reload: nothing for Alpha"
"$bin" po show --po "$d/po" 'Beta, Ann at HUB' >"$d/beta" || fail "reload: nothing for Beta"
[ "$(grep -c '^Subject: ' "$d/alpha")" = 1 ] && grep -q '^Subject: message 0' "$d/alpha" ||
	fail "reload: Alpha has $(grep '^Subject: ' "$d/alpha" | tr '\n' ' ')"
[ "$(grep -c '^Subject: ' "$d/beta")" = 2 ] && grep -q '^Subject: message 3' "$d/beta" &&
	grep -q '^Subject: message 6' "$d/beta" ||
	fail "reload: Beta has $(grep '^Subject: ' "$d/beta" | tr '\n' ' ')"
grep -q '^From: "Sender 3" \[SMTP:s3@example.org\] at NEWSITE' "$d/beta" ||
	fail "reload: the new map's site line was not used: $(grep From: "$d/beta")"
! "$bin" po show --po "$d/po" 'Gamma, Ann at HUB' >/dev/null 2>&1 ||
	fail "reload: a map that could not be read was used"
echo "4b2. SIGHUP read the --map files again: the next batches used the new map; a bad one left it"

# ---- 4c. out of file descriptors: rescans fail, said once, retried -----
# With the fewest descriptors the relay starts with, none is left for a
# rescan's open of new/: it is logged once and tried again a second later
# (it used to be tried again at once, a poller spinning without a word);
# --once, which would wait for ever, stops past --retry-max.
d=$(fresh nofds)
started=
for n in $(seq 12 64); do
	rm -f "$d/log"
	(ulimit -n $n && exec timeout 2.5 "$bin" relay --spool "$d/spool" --store "$d/store" \
		--po "$d/po" --stats-interval 0 --log "$d/log" 2>/dev/null)
	rc=$?
	[ $rc = 2 ] && continue
	[ $rc = 124 ] || fail "nofds: relay with $n descriptors exited $rc"
	started=$n
	break
done
[ -n "$started" ] || fail "nofds: the relay never started with 64 descriptors or fewer"
[ "$(grep -c "spool $d/spool/new cannot be rescanned: Too many open files; tried again every 1.0 s" \
	"$d/log")" = 1 ] || fail "nofds: with $started descriptors: $(cat "$d/log")"
# --once, whose scan never ends then, gives up past --retry-max (75).
(ulimit -n $started && exec timeout 20 "$bin" relay --spool "$d/spool" --store "$d/store" \
	--po "$d/po" --once --retry-min 0.1 --retry-max 0.5 --stats-interval 0 --log "$d/log" 2>/dev/null)
rc=$?
[ $rc = 75 ] || fail "nofds: --once exited $rc"
grep -q "relay: the spool could not be scanned for .* s: stopping" "$d/log" ||
	fail "nofds: --once did not say why it stopped"
echo "4c. out of file descriptors: a rescan that cannot open new/ is said once and tried again"

# ---- 5. bad flags and unusable directories: one line, status 2 ---------
expect2() { # expect2 ARGS...: status 2 and one line, kept in $err
	local rc
	err=$("$bin" "$@" 2>&1 >/dev/null); rc=$?
	[ "$rc" -eq 2 ] || fail "'$*' exited $rc, not 2"
	[ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || fail "'$*' printed more than one line: $err"
}
says() { # says TEXT...: the last expect2's line holds each TEXT
	for t in "$@"; do
		case "$err" in *"$t"*) ;; *) fail "the line does not say '$t': $err" ;; esac
	done
}
: >"$work/a-file"
expect2 relay --spool "$work/a-file" --store "$work/st" --po "$work/race/po"
expect2 relay --spool "$work/no-parent/spool" --store "$work/st" --po "$work/race/po"
mkdir -p "$work/not-a-po" # a directory, but no post office: not made over
expect2 relay --spool "$work/race/spool" --store "$work/st" --po "$work/not-a-po"
expect2 relay --spool "$work/race/spool" --store "$work/st"
expect2 relay --spool "$work/race/spool" --store "$work/st" --po "$work/race/po" --batch 0
expect2 relay --spool "$work/race/spool" --store "$work/st" --po "$work/race/po" --profile fast
expect2 relay --spool "$work/race/spool" --store "$work/st" --po "$work/race/po" --log-level loud
expect2 queue --spool "$work/a-file" --store "$work/st"
expect2 queue --store "$work/st" --flush --json
expect2 queue --spool "$work/race/spool" --store "$work/st" --flush --requeue-all
expect2 queue --flush
expect2 queue --store "$work/st" --requeue x
expect2 queue --spool "$work/race/spool" --store "$work/st" stray
expect2 relay --spool "$work/race/spool" --store "$work/st" --po "$work/race/po" \
	--bounce-cmd true --bounce-from 'not an address'
# The flag named as typed: a value missing at the end, a letter of a
# cluster (not the argument before it), a value given to a switch.  (Their
# directories cannot be made: no flag read wrongly starts a relay.)
nowhere=(--spool "$work/no-parent/spool" --store "$work/no-parent/store" --po "$work/no-parent/po")
expect2 relay "${nowhere[@]}" --batch
says "option '--batch' needs a value"
expect2 relay "${nowhere[@]}" --once -ab
says "unknown option '-a'"
expect2 relay "${nowhere[@]}" --once=yes
says "option '--once' takes no value"
expect2 queue --store "$work/st" --list 5 -xy
says "unknown option '-x'"
expect2 queue --store "$work/st" --requeue
says "option '--requeue' needs a value"
# Plain decimal numbers only; a duration under a nanosecond is not 0 (none).
for v in " 5" +5 0x10; do
	expect2 queue --spool "$work/race/spool" --store "$work/st" --list "$v"
	says "--list: '$v'"
done
for v in 0x10 inf nan " 1" +1 1e; do
	expect2 relay "${nowhere[@]}" --retry-min "$v"
	says "--retry-min: '$v'"
done
for f in --import-timeout --max-age --stats-interval; do
	expect2 relay "${nowhere[@]}" $f 1e-10
	says "$f: '1e-10' rounds to 0 ns"
done
# Delays that cannot be: refused with both flags, before anything is made.
mkdir "$work/rr"
expect2 relay --spool "$work/rr/spool" --store "$work/rr/store" --po "$work/rr/po" \
	--retry-min 20 --retry-max 10
says "--retry-min 20" "--retry-max 10"
[ -z "$(ls -A "$work/rr")" ] || fail "retry delays: made $(ls "$work/rr") before refusing them"
expect2 relay --spool "$work/rr/spool" --store "$work/rr/store" --po "$work/rr/po" --retry-min 700
says "--retry-min 700" "--retry-max 600"
# Without glibc's converters for the code page (gconv modules not
# installed, as in a bare container; here hidden by a mount), the relay
# says so at start, status 2, one line, and makes nothing.
gconv=$(dirname "$(find /usr/lib /usr/lib64 -name IBM437.so -path '*gconv*' 2>/dev/null | head -1)")
if [ -d "$gconv" ] && unshare -m --propagation private true 2>/dev/null; then
	mkdir -p "$work/gc/empty"
	err=$(unshare -m --propagation private sh -c 'mount --bind "$1" "$2" && shift 2 && exec "$@"' \
		sh "$work/gc/empty" "$gconv" "$bin" relay --spool "$work/gc/spool" \
		--store "$work/gc/store" --po "$work/gc/po" --once 2>&1 >/dev/null)
	rc=$?
	[ "$rc" -eq 2 ] || fail "no gconv: relay exited $rc, not 2: $err"
	[ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || fail "no gconv: more than one line: $err"
	says "cannot convert to code page 437" "GCONV_PATH"
	[ ! -e "$work/gc/spool" ] && [ ! -e "$work/gc/store" ] || fail "no gconv: made directories first"
else
	skip "no gconv folder, or unshare -m does not work here: a relay without converters"
fi
echo "5. bad flags and unusable directories: status 2 with one line naming the flag"

# ---- 5b. a first run: spool, store and post office are made -------------
d="$work/first"
mkdir "$d"
"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --once --stats-interval 0 \
	2>"$d/log" || fail "first run: status $?"
for x in spool/tmp spool/new spool/cur store/Submit store/Import store/Bad store/Deferred; do
	[ -d "$d/$x" ] || fail "first run: $x was not made"
done
grep -q "post office $d/po initialised" "$d/log" || fail "first run: no line for the new post office"
gen "$d/spool" 0 5
"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --once --stats-interval 0 \
	2>/dev/null || fail "first run: the second run failed"
[ "$(field "$d/po" 'distinct keys')" = 5 ] || fail "first run: the made post office did not get 5"
echo "5b. a first run makes the spool, the store and the post office"
echo "test_relay: ok"
