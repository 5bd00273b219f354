#!/usr/bin/env bash
# A relay left running under steady arrivals, to see that nothing grows and
# nothing is lost:
#
#   bench/relay/soak.sh [SECONDS] [PER_SECOND] [CCPUMP]     (600, 100, build/ccpump)
#
# A demo spool is written aside, then its files are moved into the relay's
# spool at about PER_SECOND a second while the relay runs.  The post
# office's user directory lacks one mailbox, so some messages go to Bad and
# some are delivered in part (their reports kept in STORE/Partial, one a
# message); --bounce-cmd is a script that answers 75 (try
# again) one time in five.  SIGHUP about every 30 s, SIGUSR1 (retry now)
# about every 20 s, and about every 10 s every message in Bad is requeued
# (`queue --requeue-all`), to fail again: some only moments after they
# went there, while the relay still holds their records.  Every fifty rounds of arrivals (about 5 s) a line
# gives the relay's RSS, open descriptors and threads; at the end, what the
# post office holds.  Exits 1 if any message is delivered twice, lost, or
# left behind, or if the messages delivered in part and their reports do
# not match.
set -u
secs=${1:-600}
rate=${2:-100}
bin=$(realpath "${3:-build/ccpump}")
w=$(mktemp -d)
trap 'kill -9 $(jobs -p) 2>/dev/null; rm -rf "$w"' EXIT
n=$((secs * rate + 1000))
"$bin" demo --dir "$w/src" --messages $n --max-body 3000 --spool-only >/dev/null || exit 1
mkdir -p "$w/spool/tmp" "$w/spool/new" "$w/spool/cur"
find "$w/src/spool/new" -type f | head -300 | xargs "$bin" convert 2>/dev/null |
	sed -n 's/^\(To\|Cc\): //p' | tr -d '\r' | sort -u | head -n -1 >"$w/users"
"$bin" po init --po "$w/po" --users "$w/users" >/dev/null || exit 1
cat >"$w/bounce.sh" <<'EOS'
#!/bin/bash
cat >/dev/null
[ $((RANDOM % 5)) = 0 ] && exit 75
exit 0
EOS
chmod +x "$w/bounce.sh"
"$bin" relay --spool "$w/spool" --store "$w/store" --po "$w/po" --bounce-cmd "$w/bounce.sh" \
	--retry-min 0.5 --retry-max 5 --stats-interval 5 --log "$w/log" &
pid=$!
sleep 1
ls "$w/src/spool/new" >"$w/names"
echo "soak: $secs s at about $rate files a second, relay pid $pid"
moved=0 tick=0 requeued=0 start=$SECONDS
exec 3<"$w/names"
while ((SECONDS - start < secs)); do
	# A tenth of a second's files, then a tenth of a second's sleep: the
	# moves themselves take time, so the rate is about, not exactly.
	for ((k = 0; k < rate / 10; k++)); do
		read -r f <&3 || break
		mv "$w/src/spool/new/$f" "$w/spool/new/$f"
		moved=$((moved + 1))
	done
	sleep 0.1
	tick=$((tick + 1))
	if ((tick % 50 == 0)); then
		printf '%4d s  rss %s kB  fds %s  threads %s  moved %d\n' $((SECONDS - start)) \
			"$(awk '/VmRSS/ {print $2}' /proc/$pid/status)" "$(ls /proc/$pid/fd | wc -l)" \
			"$(ls /proc/$pid/task | wc -l)" $moved
	fi
	((tick % 300 == 0)) && kill -HUP $pid
	((tick % 200 == 0)) && kill -USR1 $pid
	if ((tick % 100 == 0)); then
		r=$("$bin" queue --spool "$w/spool" --store "$w/store" --requeue-all 2>&1 |
			sed -n 's/^\([0-9]*\) messages requeued.*/\1/p')
		requeued=$((requeued + ${r:-0}))
	fi
done
exec 3<&-
# Let the last arrivals through, then stop as a service manager would.
for ((t = 0; t < 300; t++)); do
	[ -z "$(ls -A "$w/spool/new")" ] && break
	sleep 0.1
done
sleep 2
kill -TERM $pid
wait $pid
rc=$?
keys=$("$bin" po stats --po "$w/po" | sed -n 's/^distinct keys: *//p')
dups=$("$bin" po stats --po "$w/po" | sed -n 's/^duplicate deliveries: *//p')
bad=$(ls "$w/store/Bad" | grep -vc -e '\.reason$' -e '\.ndr$')
left=$(ls -A "$w/spool/new" | wc -l)
inpart=$(sed -n 's/.*relay: done: [0-9]* delivered (\([0-9]*\) in part).*/\1/p' "$w/log")
partial=$(ls -A "$w/store/Partial" | wc -l)
echo "soak: relay status $rc; moved $moved: delivered $keys ($inpart in part, $partial reports in" \
	"Partial), to Bad $bad, left in the spool $left; duplicate deliveries $dups; reports" \
	"waiting $(ls -A "$w/store/Bounce" | wc -l); error lines $(grep -c ' error: ' "$w/log");" \
	"requeued from Bad $requeued"
[ "$rc" = 0 ] && [ "$dups" = 0 ] && [ "$left" = 0 ] && [ $((keys + bad)) = $moved ] &&
	[ "$inpart" = "$partial" ]
