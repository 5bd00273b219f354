#!/usr/bin/env bash
# ccpump relay end to end (the second of four parts; relay_lib.sh holds
# what they share):
#   2. import answers 1 and 4 injected, then 3 and 5 from an import program
#      and a user directory: deferred and retried, or to Bad with a reason,
#      and requeued from Bad once the recipient is known; retry limits that
#      count an earlier run's attempts and age; `queue --flush`; the pace
#      of --profile ccmc; an import program's list of undeliverables;
#      messages delivered in part, their reports in Partial/; the
#      records of names too long to take a suffix.
set -u
. "$(dirname "$0")/relay_lib.sh"

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
# Nor with any descriptor of the relay's, nor any the relay was handed by
# the test's caller: 0, 1, 2 and the one ls opens to list them.
[ "$(sort -n "$d/fds" | tr '\n' ' ')" = "0 1 2 3 " ] ||
	fail "ext: the import program has descriptors $(sort -n "$d/fds" | tr '\n' ' '), not 0 1 2 3"

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
d=$(fresh undeliv --users "$(users)")
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
grep -q '^Reason: unknown recipient .*carol' "$pr" || fail "partial: the reason: $(grep Reason "$pr")"
# The sender is told the reason, not the store's place nor the batch's line:
# those stay in the log and Bad's reasons.
for f in "$pr" "$d/store/Bad/1764288000.M999P77.test.ndr"; do
	! grep -q 'Import/Msg\|store/\|: line [0-9]' "$f" || fail "reports: the store's path or a batch line in $f: $(grep Reason "$f")"
done
grep -q '/Import/Msg.*: line [0-9]*: ' "$d/store/Bad/1764288000.M999P77.test.reason" ||
	fail "reports: Bad's reason lost its batch and line: $undreason"
# The same through an import program, whose listing the relay quotes
# ("the import program listed it as undeliverable: STORE/Import/...: line
# N: ..."): the batch and line go from the middle of the reason too.
dp=$(fresh undprog --users "$(users)")
counting_import "$dp"
cp "$d/store/Bad/1764288000.M999P77.test" "$dp/spool/new/"
"$bin" relay --spool "$dp/spool" --store "$dp/store" --import-cmd "$dp/import.sh" --once \
	--stats-interval 0 --log "$dp/log" || fail "reports: the relay with an import program failed"
f=$dp/store/Bad/1764288000.M999P77.test.ndr
grep -q "^Reason: the import program listed it as undeliverable: unknown recipient" "$f" &&
	! grep -q 'Import/Msg\|store/\|: line [0-9]' "$f" ||
	fail "reports: through an import program: $(grep -A1 Reason "$f")"
grep -q 'listed it as undeliverable: .*/Import/Msg.*: line [0-9]*: ' \
	"$dp/store/Bad/1764288000.M999P77.test.reason" ||
	fail "reports: Bad's reason lost its batch and line: $(cat "$dp/store/Bad/1764288000.M999P77.test.reason")"
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
rm "$pr"
scratch=$work/scratch-partial; mkdir -p "$scratch/tmp" "$scratch/new"
gen "$scratch" 5 1
mv "$scratch/new/1764288000.M5P77.test" "$d/spool/new/"
"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --once --stats-interval 0 \
	--log "$d/log" || fail "partial again: relay failed"
[ -s "$pr" ] || fail "partial again: no report"
[ "$(field "$d/po" delivered)" = "$delivered" ] || fail "partial again: delivered again"
[ -z "$(ls -A "$d/spool/new")" ] || fail "partial again: left in the spool"

# The same through an external import program answering 5: the relay reads
# the undeliverable messages from the .und file beside the batch, each named
# by its X-Spool-Id line, with the program's reason.  A line of a message's
# text that reads like one (M998's names M1) names nothing: M1 is delivered.
d2=$(fresh undeliv-ext --users "$(users)")
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
d4=$(fresh undeliv-mangled --users "$(users)")
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
d5=$(fresh undeliv-twice --users "$(users)")
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
d=$(fresh bounce --users "$(users)")
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
	"Mtemp.test: the report to temp@example.org was not sent: the bounce command answered 75; " \
	"Mrp.test: report sent to rp@example.org"; do
	grep -qF "message 1764288000.$line" "$d/log" || fail "bounce: no log line '$line'"
done
# --once tries its queued reports once more as it ends: a report that
# fails then waits for the next run, and the log says so, not a backoff
# this run will never wait out.
grep -F "Mtemp.test: the report to temp@example.org was not sent" "$d/log" | tail -1 |
	grep -q "answered 75; left queued for the next run$" ||
	fail "bounce: the last try said $(grep -F 'Mtemp.test: the report' "$d/log" | tail -1)"
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
# (The report may be sent before the batch's end moves the message into Bad/.)
within10 test -f "$d/store/Bad/1764288000.Mslow.test" || fail "bounce: Mslow not in Bad"
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
d=$(fresh rqfail --users "$(users)")
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
	d=$(fresh xfs --users "$(users)")
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
d=$(fresh reserved --users "$(users)")
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

# A marker's first attempt stays where it was over restarts: counted back
# in whole seconds from two clocks each cut on its own, it came a second
# later whenever a second began between the run's first sight of the
# message and its marker's write, and --max-age ended the message later.
# Each run starts late in a second, for one to begin in between.
d=$(fresh creep)
gen "$d/spool" 0 1
mkdir -p "$d/store/Deferred"
first=$(($(date +%s) - 100))
printf 'attempt 1\nfirst %d\nanswer 4\nreason locked\n' $first \
	>"$d/store/Deferred/1764288000.M0P77.test"
attempts() { sed -n 's/^attempt //p' "$d/store/Deferred/1764288000.M0P77.test"; }
for ((run = 1; run <= 8; run++)); do
	before=$(attempts)
	until [ "$(date +%N)" -ge $((880000000 + run * 12000000)) ]; do :; done
	CCPUMP_PO_FAULT="rate=1,code=4" "$bin" relay --spool "$d/spool" --store "$d/store" \
		--po "$d/po" --retry-min 0.02 --retry-max 0.05 --stats-interval 0 --log "$d/log" &
	pid=$!
	within10 eval '[ "$(attempts)" -ge $((before + 2)) ]' ||
		fail "creep: run $run made no two attempts: $(cat "$d/store/Deferred/1764288000.M0P77.test")"
	kill -TERM $pid
	wait $pid || fail "creep: run $run exited $?"
	got=$(sed -n 's/^first //p' "$d/store/Deferred/1764288000.M0P77.test")
	[ "$got" = $first ] || fail "creep: after run $run the first attempt is $got, not $first"
done

echo "2b. import answers 3 and 5: retried, or to Bad with: $undreason; requeued once known: delivered;"
echo "    reports sent by --bounce-cmd to Return-Path or From, never to <> or an option-like address;"
echo "    one that failed with 75 kept queued and sent by the next run"
echo "2c. a locked post office: 40 deferred, shown by ccpump queue, kept over a stop, delivered later"
echo "2d. retry limits across a restart: earlier attempts and age counted, a stale marker dropped;"
echo "    a marker's first attempt unchanged over 8 restarts"

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

# ---- 2h. what an import program is handed ------------------------------
# The relay started with a descriptor of its starter's open (as `flock
# LOCK ccpump relay` in a cron job leaves the lock) and its standard error
# closed: the program has nothing open past 0, 1 and 2 (a leftover child
# of it would hold that lock on), and the relay's first file, the store's
# lock, did not take number 2 (its log lines would have overwritten the
# pid that `queue` reads there).
d=$(fresh handed)
gen "$d/spool" 0 3
printf '#!/bin/sh
ls /proc/$$/fd >>"%s/fds"
exec "%s" import --po "%s/po" "$1"
' \
	"$d" "$bin" "$d" >"$d/import.sh"
chmod +x "$d/import.sh"
(exec 9>"$d/held"; "$bin" relay --spool "$d/spool" --store "$d/store" --import-cmd \
	"$d/import.sh" --once --stats-interval 0 2>&-) >/dev/null || fail "handed: relay failed"
[ -s "$d/fds" ] || fail "handed: the import program never ran"
extra=$(grep -vx '[012]' "$d/fds" | sort -u | tr '\n' ' ')
# The shell keeps the script it reads open, on a descriptor of its own
# from 10 up; anything under 10 besides 0-2 was handed over.
! printf '%s' "$extra" | grep -qw '[3-9]' || fail "handed: descriptors $extra were open in it"
grep -qx '[0-9]*' "$d/store/relay.lock" || fail "handed: relay.lock holds $(head -c 100 "$d/store/relay.lock")"
[ "$(field "$d/po" 'distinct keys')" = 3 ] || fail "handed: not delivered"
echo "2h. an import program gets no descriptor past 2, and a closed stderr is not the store's lock"
# An unknown recipient with a name past ASCII: the post office's reason
# quotes the recipient's line in the code page, and the report (UTF-8),
# the log and Bad's record give it in UTF-8, not as "J\x81rgen".
d=$(fresh umlaut --users "$(users)")
printf 'From: "X" <x@example.org>\r\nTo: alice@example.org, =?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <jm@example.org>\r\nSubject: name\r\n\r\nhi\r\n' \
	>"$d/spool/new/m1"
printf 'From: "X" <x@example.org>\r\nTo: =?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <jm@example.org>\r\nSubject: name\r\n\r\nhi\r\n' \
	>"$d/spool/new/m2"
"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --once --stats-interval 0 \
	--log "$d/log" || fail "umlaut: relay failed"
want="unknown recipient '\"Jürgen Müller\" [SMTP:jm@example.org] at EXSITE'"
grep -qxF "Reason: $want" "$d/store/Partial/m1.ndr" ||
	fail "umlaut: the partial report: $(grep Reason "$d/store/Partial/m1.ndr")"
grep -qxF "Reason: $want" "$d/store/Bad/m2.ndr" ||
	fail "umlaut: the report: $(grep Reason "$d/store/Bad/m2.ndr")"
grep -qF ": $want" "$d/store/Bad/m2.reason" || fail "umlaut: Bad's reason: $(cat "$d/store/Bad/m2.reason")"
grep -qF "$want" "$d/log" || fail "umlaut: the log"
# Through an import program (one that lists its reasons in the code
# page, as IMPORT does): the same.
dp=$(fresh umlautprog --users "$(users)")
counting_import "$dp"
cp "$d/store/Bad/m2" "$dp/spool/new/m2"
"$bin" relay --spool "$dp/spool" --store "$dp/store" --import-cmd "$dp/import.sh" --once \
	--stats-interval 0 --log "$dp/log" || fail "umlaut: the relay with an import program failed"
grep -qxF "Reason: the import program listed it as undeliverable: $want" "$dp/store/Bad/m2.ndr" ||
	fail "umlaut: through an import program: $(grep Reason "$dp/store/Bad/m2.ndr")"
echo "2j. a recipient's name past ASCII is in UTF-8 in the reports, Bad's reason and the log"
echo "test_relay_answers: ok"
