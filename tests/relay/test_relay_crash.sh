#!/usr/bin/env bash
# ccpump relay end to end (the last of four parts; relay_lib.sh holds
# what they share):
#   4. a crash loop: kill -9 at random moments while files keep arriving
#      and delivery.log is rotated, restart, many times; then every message
#      is in the post office exactly once per recipient, nothing lost, the
#      spool empty; a SIGHUP's reopened log and reloaded map; a rescan out
#      of descriptors; a message killed on its way to Bad.
set -u
. "$(dirname "$0")/relay_lib.sh"

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
# Batches of 8 here too: the log is rotated at an import's start, so the
# rotations below come from the number of imports, not from how far the
# killed runs got (a slow machine's got little, and one large batch here
# rotated once).
"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --once --stats-interval 0 \
	--batch 8 --log "$d/log" || fail "crash: final relay failed"
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
# 0, 1, 2 and the one ls opens to list them: not the reopened log.
[ "$(sort -n "$d/fds" | tr '\n' ' ')" = "0 1 2 3 " ] ||
	fail "hup: after the reopen the import program has descriptors $(sort -n "$d/fds" | tr '\n' ' '), not 0 1 2 3"
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
# ---- 4d. killed on a message's way to Bad -----------------------------
# Its retries ended (--max-attempts 1, the import answering 4), its reason
# and report written, the relay is killed as it links the report into
# Bounce/ (strace: SIGKILL at that linkat()), before the spool's failed
# marker.  Started again with the post office back, the message goes to
# Bad, not through one more try: that delivered it while its report went
# out all the same, and left its records in Bad with no message there.
d=$(fresh tobad)
gen "$d/spool" 0 1
msg=$(ls "$d/spool/new")
cat >"$d/imp.sh" <<EOF
#!/bin/sh
[ -e "$d/down" ] && exit 4
exec "$bin" import --po "$d/po" "\$1"
EOF
printf '#!/bin/sh\ncat >/dev/null; echo "$1" >>"%s/sent"\n' "$d" >"$d/bounce.sh"
chmod +x "$d/imp.sh" "$d/bounce.sh"
touch "$d/down"
args=(--spool "$d/spool" --store "$d/store" --import-cmd "$d/imp.sh" --bounce-cmd
	"$d/bounce.sh" --max-attempts 1 --stats-interval 0 --log "$d/log" --once)
strace -f -qq -o /dev/null -e trace=linkat -e inject=linkat:signal=KILL "$bin" relay "${args[@]}"
[ -e "$d/spool/new/$msg" ] && [ -e "$d/store/Bad/$msg.reason" ] && [ ! -e "$d/store/Bad/$msg" ] ||
	fail "tobad: not killed between the reason and the marker: $(ls "$d/spool/new" "$d/store/Bad")"
rm "$d/down"
"$bin" relay "${args[@]}" || fail "tobad: the relay started again failed"
[ -z "$(ls -A "$d/spool/new")" ] && [ -e "$d/store/Bad/$msg" ] || fail "tobad: not in Bad"
[ "$(field "$d/po" delivered)" = 0 ] || fail "tobad: delivered after its retries ended"
grep -q "retries ended after attempt 1 (the last: the import answered 4)" "$d/store/Bad/$msg.reason" ||
	fail "tobad: reason $(cat "$d/store/Bad/$msg.reason")"
[ "$(wc -l <"$d/sent")" = 1 ] || fail "tobad: reports sent: $(cat "$d/sent")"
grep -q "message $msg was on its way to Bad when the relay stopped" "$d/log" ||
	fail "tobad: not said in the log"
echo "4d. killed on a message's way to Bad: it goes there at the next start, not tried again; one report"
echo "test_relay_crash: ok"
