#!/usr/bin/env bash
# ccpump relay end to end (the third of four parts; relay_lib.sh holds
# what they share):
#   3. bad spool entries (symlink, fifo, directory, empty, huge, binary)
#      moved aside with their reasons while the relay goes on; a spool file
#      changed after its import kept in Bad, not removed, and never
#      without its reason (waiting in new/ while Bad cannot take either);
#      one whose ctime alone moved after its import judged by its octets;
#      a delivered one that cannot be removed marked delivered, never
#      imported again, and a new file put under its name on its inode
#      number relayed as new; a message swapped for an entry that is no
#      file, before its read or before its ack, quarantined, not sent to
#      Bad.
set -u
. "$(dirname "$0")/relay_lib.sh"

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

# ---- 3b4. only its ctime moved after its import --------------------------
# The import program plays, on M4, a Maildir writer's link() and unlink()
# of a second name (procmail's delivery, seen late): its ctime moves, its
# octets do not, and it is delivered and removed as any other.  On M5, a
# rewrite in place of one octet that puts the mtime back (as `cp -p` or
# `rsync --inplace -t` over the file would): only the ctime tells, and it
# goes to Bad as changed after its delivery.
d=$(fresh ctimeonly)
gen "$d/spool" 0 20
v4="$d/spool/new/1764288000.M4P77.test"
v5="$d/spool/new/1764288000.M5P77.test"
cat >"$d/import.sh" <<EOS
#!/bin/sh
if grep -q 'X-Spool-Id: 1764288000.M4P77.test' "\$1" && [ ! -f "$d/linked" ]; then
	ln "$v4" "$d/spool/tmp/second" && rm "$d/spool/tmp/second" && : >"$d/linked"
fi
if grep -q 'X-Spool-Id: 1764288000.M5P77.test' "\$1" && [ ! -f "$d/ref" ]; then
	touch -r "$v5" "$d/ref"
	printf 'X' | dd of="$v5" bs=1 seek=\$((\$(stat -c %s "$v5") - 3)) conv=notrunc status=none
	touch -r "$d/ref" "$v5"
fi
exec "$bin" import --po "$d/po" "\$1"
EOS
chmod +x "$d/import.sh"
# An older message of M5's name in Bad: kept as NAME.1 when M5 goes there.
mkdir -p "$d/store/Bad"
echo "an older message of the name" >"$d/store/Bad/1764288000.M5P77.test"
echo "its reason" >"$d/store/Bad/1764288000.M5P77.test.reason"
"$bin" relay --spool "$d/spool" --store "$d/store" --import-cmd "$d/import.sh" --once \
	--dispatchers 1 --stats-interval 0 --log "$d/log" || fail "ctime only: relay failed"
grep -q "^an older message of the name" "$d/store/Bad/1764288000.M5P77.test.1" &&
	grep -q "^its reason" "$d/store/Bad/1764288000.M5P77.test.1.reason" ||
	fail "ctime only: the older message of M5's name not kept: $(ls "$d/store/Bad")"
[ -f "$d/linked" ] && [ -f "$d/ref" ] || fail "ctime only: the import program did not play both writers"
[ ! -e "$d/store/Bad/1764288000.M4P77.test" ] ||
	fail "ctime only: a second name made and removed sent M4 to Bad: $(cat "$d/store/Bad/1764288000.M4P77.test.reason")"
! grep -q 'M4P77.test changed' "$d/log" || fail "ctime only: M4 taken for a change: $(grep -m1 'M4P77' "$d/log")"
[ -f "$d/store/Bad/1764288000.M5P77.test" ] || fail "ctime only: M5 rewritten with its mtime put back is not in Bad"
grep -q '^changed after its delivery (rewritten in place, its mtime put back (size [0-9]*))' \
	"$d/store/Bad/1764288000.M5P77.test.reason" ||
	fail "ctime only: M5's reason: $(cat "$d/store/Bad/1764288000.M5P77.test.reason")"
[ "$(tail -c 3 "$d/store/Bad/1764288000.M5P77.test" | head -c 1)" = X ] || fail "ctime only: M5's rewrite lost"
[ -z "$(ls -A "$d/spool/new")" ] || fail "ctime only: spool not empty: $(ls "$d/spool/new")"
[ "$(field "$d/po" 'distinct keys')" = 20 ] || fail "ctime only: not 20 messages delivered"
[ "$(field "$d/po" 'duplicate deliveries')" = 0 ] || fail "ctime only: duplicates"
echo "3b4. only the ctime moved after its import: delivered and removed when its octets are as read, to Bad when they were rewritten"

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
d=$(fresh longhead --users "$(users)")
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
d=$(fresh longfrom --users "$(users)")
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
# that the SIGTERM lands in the last sending, not before it.  The listing
# is taken at each try (sh -c): expanded once, before the files had left
# new/ (the first report can go before they do), it failed every try.
within10 sh -c '[ -z "$(ls -A "$1/spool/new")" ]' sh "$d" ||
	fail "termreports: the spool did not empty: $(ls "$d/spool/new"; cat "$d/log")"
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

# ---- 3e6. --keep and a name delivered twice ------------------------------
# A message requeued under the name of one kept in cur/ before (another
# message, or the same sent again) is kept beside it, not over it.
d=$(fresh keeptwice)
name=1764288000.M1P5.keep
for body in first second; do
	printf 'From: s@example.org\r\nTo: alice@example.org\r\nSubject: %s\r\n\r\n%s\r\n' \
		"$body" "$body" >"$d/spool/new/$name"
	"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --keep --once \
		--stats-interval 0 --log "$d/log" || fail "keeptwice: relay exited $?"
done
[ -z "$(ls -A "$d/spool/new")" ] || fail "keeptwice: left in new/: $(ls "$d/spool/new")"
grep -q "^first" "$d/spool/cur/$name" || fail "keeptwice: the first copy: $(ls "$d/spool/cur")"
grep -q "^second" "$d/spool/cur/$name.1" || fail "keeptwice: the second copy: $(ls "$d/spool/cur")"
echo "3e6. --keep: a name delivered twice keeps both copies in cur/"
# ---- 3e7. a name that goes to Bad twice ----------------------------------
# A writer that reuses names sends a second message to Bad under the name
# of one still there: the first is kept as NAME.1 (then NAME.2), with its
# reason, its report and its report's place in the queue (the bounce
# command failing for now, both reports wait there); the log says so.
d=$(fresh badtwice)
name=1764288000.M1P6.bad
printf '#!/bin/sh\ncat >/dev/null\nexit 75\n' >"$d/bounce.sh"
chmod +x "$d/bounce.sh"
nofrom() { # nofrom BODY: a message without From into new/, its report to BODY@example.org
	printf 'Return-Path: <%s@example.org>\r\nTo: alice@example.org\r\nSubject: %s\r\n\r\n%s\r\n' \
		"$1" "$1" "$1" >"$d/spool/tmp/$name"
	mv "$d/spool/tmp/$name" "$d/spool/new/$name"
}
badtwice() { # badtwice BODY: nofrom BODY, then a relay --once
	nofrom "$1"
	"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --once --bounce-cmd "$d/bounce.sh" \
		--stats-interval 0 --log "$d/log" || fail "badtwice: relay exited $?"
}
# kept AS BODY: Bad/AS is the message BODY with its reason, its report (to
# BODY@example.org) and that report queued in Bounce/AS.
kept() {
	grep -q "^$2" "$d/store/Bad/$1" || fail "badtwice: Bad/$1 holds $(cat "$d/store/Bad/$1" 2>&1)"
	grep -q "refused: empty or missing From" "$d/store/Bad/$1.reason" ||
		fail "badtwice: Bad/$1.reason: $(cat "$d/store/Bad/$1.reason" 2>&1)"
	grep -q "^To: <$2@example.org>" "$d/store/Bad/$1.ndr" ||
		fail "badtwice: Bad/$1.ndr: $(grep '^To:' "$d/store/Bad/$1.ndr" 2>&1)"
	[ "$(ino "$d/store/Bounce/$1")" = "$(ino "$d/store/Bad/$1.ndr")" ] ||
		fail "badtwice: Bounce/$1 is not Bad/$1.ndr queued: $(ls -i "$d/store/Bounce" "$d/store/Bad")"
}
badtwice first
badtwice second
kept "$name" second
kept "$name.1" first
grep -q "message $name: $d/store/Bad/$name held an older message of that name: kept as $d/store/Bad/$name.1" \
	"$d/log" || fail "badtwice: not said: $(grep -e warn -e error "$d/log")"
# A crash in the middle of keeping the older one (its report's queue entry
# and its report moved, not yet its reason and the message): the next try
# finishes the move to the same name.
mv "$d/store/Bounce/$name" "$d/store/Bounce/$name.2"
mv "$d/store/Bad/$name.ndr" "$d/store/Bad/$name.2.ndr"
badtwice third
kept "$name" third
kept "$name.1" first
kept "$name.2" second
q=$("$bin" queue --spool "$d/spool" --store "$d/store" --json)
printf '%s' "$q" | grep -q '"bad":{"count":3,' || fail "badtwice: queue does not show 3 in Bad: $q"
# Bad/NAME that is this very message's copy (a move across file systems
# placed it, and a crash came before the spool file's removal): no older
# message, replaced, not kept as a fourth.
printf 'Return-Path: <fourth@example.org>\r\nTo: alice@example.org\r\nSubject: fourth\r\n\r\nfourth\r\n' \
	>"$d/spool/tmp/$name"
cp -p "$d/spool/tmp/$name" "$d/store/Bad/$name"
mv "$d/spool/tmp/$name" "$d/spool/new/$name"
"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --once --bounce-cmd "$d/bounce.sh" \
	--stats-interval 0 --log "$d/log" || fail "badtwice: relay exited $?"
kept "$name" fourth
[ ! -e "$d/store/Bad/$name.3" ] || fail "badtwice: its own copy kept as an older message"
grep -q "message $name: $d/store/Bad/$name is its copy from a move to Bad a crash cut short: replaced" \
	"$d/log" || fail "badtwice: its own copy not said"
echo "3e7. a name sent to Bad twice, three times: each older message kept as NAME.N with its reason and queued report"

# ---- 3e8. a name that goes to Bad while its older report is being sent ---
# The older message's report is being sent when the newer one goes to Bad:
# its queue entry is renamed NAME.1 with it.  Once sent, it is taken out of
# the queue under that name: sent once, not a second time as NAME.1; the
# newer one's report is sent too.
d=$(fresh badsending)
name=1764288000.M1P8.bad
cat >"$d/bounce.sh" <<EOS
#!/bin/sh
cat >/dev/null
echo "\$1" >>"$d/sent"
if [ "\$1" = first@example.org ]; then
	i=0
	while [ ! -f "$d/go" ] && [ \$i -lt 300 ]; do sleep 0.1; i=\$((i + 1)); done
fi
exit 0
EOS
chmod +x "$d/bounce.sh"
sent() { grep -c "^$1@example.org\$" "$d/sent" 2>/dev/null; }
sent_is() { [ "$(sent "$1")" = "$2" ]; }
"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --bounce-cmd "$d/bounce.sh" \
	--rescan-interval 0.1 --stats-interval 0 --log "$d/log" &
pid=$!
nofrom first
within10 sent_is first 1 || fail "badsending: the first report not being sent"
within10 test ! -e "$d/spool/new/$name" || fail "badsending: the first message still in new/"
nofrom second
within10 test -f "$d/store/Bad/$name.1" || fail "badsending: the first message not kept as $name.1"
: >"$d/go"
bounce_empty() { [ -z "$(ls -A "$d/store/Bounce")" ]; }
within10 bounce_empty || fail "badsending: reports still queued: $(ls "$d/store/Bounce")"
kill -TERM $pid
wait $pid || fail "badsending: relay exited $?"
[ "$(sent first)" = 1 ] || fail "badsending: the first report sent $(sent first) times"
[ "$(sent second)" = 1 ] || fail "badsending: the second report sent $(sent second) times"
grep -q "first@example.org" "$d/store/Bad/$name.1.ndr" && grep -q "second@example.org" "$d/store/Bad/$name.ndr" ||
	fail "badsending: the reports kept in Bad: $(ls "$d/store/Bad")"
grep -q "message $name: its report, sent, was queued again as $d/store/Bounce/$name.1 meanwhile" "$d/log" ||
	fail "badsending: not said: $(grep -e warn -e error -e Bounce "$d/log")"
echo "3e8. a name sent to Bad while its older report was being sent: each report sent once"

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
	# (The log is made by the relay once it runs.)
	waits() {
		[ -f "$d/log" ] &&
			[ "$(grep -c "retries ended after attempt [23] .* it waits in the spool" "$d/log")" -ge 3 ]
	}
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

# ---- 3f2. a message an import program lists, while Bad cannot take it ----
# The program delivered it to alice and listed it (nobody unknown).  While
# Bad is locked the message is postponed; its later tries must not import
# it again: a program without the post office's duplicates window (IMPORT)
# would deliver it to alice at each one.
d=$(fresh unfailed --users "$(users)")
counting_import "$d"
printf 'From: s@example.org\r\nTo: alice@example.org, nobody@example.org\r\nSubject: s\r\n\r\nhi\r\n' \
	>"$d/spool/new/1764288000.Mlisted.test"
mkdir -p "$d/store/Bad"
if chattr +i "$d/store/Bad" 2>/dev/null; then
	"$bin" relay --spool "$d/spool" --store "$d/store" --import-cmd "$d/import.sh" \
		--retry-min 0.05 --retry-max 0.1 --stats-interval 0 --log "$d/log" &
	pid=$!
	# The import, then two tries since, each postponed again.
	tries() { [ -f "$d/log" ] && [ "$(grep -c ' 1 deferred, 0 to Bad' "$d/log")" -ge 3 ]; }
	within10 tries || { chattr -i "$d/store/Bad"; fail "unfailed: not tried three times"; }
	chattr -i "$d/store/Bad"
	within10 test -f "$d/store/Bad/1764288000.Mlisted.test" || fail "unfailed: not in Bad once it could be"
	kill -TERM $pid
	wait $pid || fail "unfailed: relay exited $?"
	[ "$(wc -l <"$d/imports")" = 1 ] || fail "unfailed: imported $(wc -l <"$d/imports") times, not once"
	grep -q "^the import program listed it as undeliverable: .*unknown recipient" \
		"$d/store/Bad/1764288000.Mlisted.test.reason" ||
		fail "unfailed: reason $(cat "$d/store/Bad/1764288000.Mlisted.test.reason")"
	[ "$(field "$d/po" 'skipped duplicates')" = 0 ] || fail "unfailed: handed to the post office again"
	echo "3f2. a message an import program listed, Bad locked: postponed, not imported again, then to Bad"
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
# ---- 3g. messages swapped for entries that are no files -----------------
# Between the scan and the read, or the read and the ack, a message's name
# may come to hold something else.  A device node (one of no driver: its
# open fails, ENXIO) in place of a message waiting in the ring, and in
# place of one already read and being imported: neither goes to Bad (with
# a reason and a report on a message that was never it); both are
# quarantined, by the next scan.  One dispatcher, batches of one, and an
# import that waits for the test's word: which message is read first is
# the relay's choice, and the test swaps the others while it waits.
if [ "$(id -u)" != 0 ]; then
	skip "not root: mknod, for messages swapped for device nodes"
else
	d=$(fresh swapped)
	gen "$d/spool" 0 3
	# Each run numbered, its batch kept; each waits for $d/go.
	cat >"$d/import.sh" <<-EOF
	#!/bin/sh
	n=\$((\$(cat "$d/runs" 2>/dev/null || echo 0) + 1))
	echo \$n >"$d/runs"
	cp "\$1" "$d/batch\$n"
	while [ ! -e "$d/go" ]; do sleep 0.05; done
	exec "$bin" import --po "$d/po" "\$1"
	EOF
	chmod +x "$d/import.sh"
	"$bin" relay --spool "$d/spool" --store "$d/store" --import-cmd "$d/import.sh" \
		--pollers 1 --dispatchers 1 --batch 1 --once --stats-interval 0 --log "$d/log" &
	relay=$!
	within10 test -s "$d/batch1" || fail "swapped: no first import"
	# The one read (in the first batch), and the first of the two waiting,
	# each become a device of no driver; the last stays a message.
	first= waiting=()
	for i in 0 1 2; do
		name=1764288000.M${i}P77.test
		if grep -qF "$name" "$d/batch1"; then first=$name; else waiting+=("$name"); fi
	done
	for name in "$first" "${waiting[0]}"; do
		[ -n "$name" ] || continue
		rm "$d/spool/new/$name"
		mknod "$d/spool/new/$name" c 240 0
	done
	[ -n "$first" ] || fail "swapped: the first batch names none of the messages"
	: >"$d/go"
	wait $relay || fail "swapped: relay failed"
	bad=$(ls -A "$d/store/Bad" 2>/dev/null)
	[ -z "$bad" ] || fail "swapped: to Bad: $bad ($(grep -i bad "$d/log"))"
	# The one read was imported, the last too; the one swapped before its
	# read vanished, and is not counted as delivered.
	grep -q "relay: done: 2 delivered (0 in part), 0 bad," "$d/log" ||
		fail "swapped: $(grep 'relay: done' "$d/log")"
	"$bin" relay --spool "$d/spool" --store "$d/store" --import-cmd "$d/import.sh" --once \
		--stats-interval 0 --log "$d/log" || fail "swapped: second relay failed"
	quarantined=$(find "$d/store/Quarantine" -type c | wc -l)
	[ -z "$(ls -A "$d/store/Bad" 2>/dev/null)" ] && [ -z "$(ls -A "$d/spool/new")" ] &&
		[ "$quarantined" = 2 ] && [ "$(ls "$d/store/Quarantine" | wc -l)" = 2 ] ||
		fail "swapped: Quarantine $(ls "$d/store/Quarantine"), Bad $(ls -A "$d/store/Bad"), new/ $(ls -A "$d/spool/new")"
	echo "3g. messages swapped for device nodes before their read or their ack: quarantined, not sent to Bad"
fi
# ---- 3h. a name quarantined twice keeps both ----------------------------
# What is quarantined is evidence: a second entry of a name already there
# (a link to another file, a folder) comes in beside it, never over it.
d=$(fresh quarantine2)
q2() {
	"$bin" relay --spool "$d/spool" --store "$d/store" --po "$d/po" --once --stats-interval 0 \
		--log "$d/log" || fail "quarantine twice: relay failed"
}
ln -s /etc/passwd "$d/spool/new/1764288000.Mq.test"
q2
ln -s /etc/hostname "$d/spool/new/1764288000.Mq.test"
q2
mkdir "$d/spool/new/1764288000.Mq.test"
q2
Q=$d/store/Quarantine/1764288000.Mq.test
[ "$(readlink "$Q")" = /etc/passwd ] && [ "$(readlink "$Q.1")" = /etc/hostname ] && [ -d "$Q.2" ] &&
	[ -z "$(ls -A "$d/spool/new")" ] ||
	fail "quarantine twice: $(ls -l "$d/store/Quarantine"); new/: $(ls -A "$d/spool/new")"
grep -q "moved to $d/store/Quarantine as 1764288000.Mq.test.2, never opened" "$d/log" ||
	fail "quarantine twice: the new name not said: $(grep Mq "$d/log")"
echo "3h. a name quarantined again: beside the first (NAME.1, NAME.2), not over it"
echo "test_relay_spool: ok"
