#!/usr/bin/env bash
# docs/ccpump-relay.service: its note on SIGTERM says what a stop does,
# systemd takes it without a word (systemd-analyze verify), its writable
# paths cover every directory its command line names, and that command
# line, with its directories moved under a temporary one, relays a spool.
set -u
bin=$(realpath "$1")
unit=$(realpath "$2")
fail() { echo "FAIL: $*" >&2; exit 1; }
# Its note on SIGTERM says what a stop does (the relay's own log line at
# a stop: the batches in flight finish, queued messages stay in the
# spool), not the drain of the ring it once did.
note=$(sed -n '/^# SIGTERM/,/^KillSignal=/p' "$unit")
grep -q 'queued messages stay in the spool' <<<"$note" ||
	fail "its note on SIGTERM does not say queued messages stay in the spool: $note"
! grep -qi 'drain\|ring empties' <<<"$note" ||
	fail "its note on SIGTERM says the ring is drained: $note"
# Under CI, which installs it, its absence is a failure, not a skip.
command -v systemd-analyze >/dev/null || {
	echo "SKIP: no systemd-analyze"
	[ "${CI:-}" = true ] && exit 1
	exit 77
}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

sed "s#/usr/local/bin/ccpump#$bin#" "$unit" >"$work/ccpump-relay.service"
out=$(cd "$work" && systemd-analyze verify ./ccpump-relay.service 2>&1) || fail "verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify said: $out"

cmd=$(sed -n 's/^ExecStart=//p' "$work/ccpump-relay.service")
[ -n "$cmd" ] || fail "no ExecStart"
rw=$(sed -n 's/^ReadWritePaths=//p' "$unit")
# Every directory and file the relay is given must be writable under
# ProtectSystem.
for dir in $(printf '%s\n' $cmd | sed -n '/^--\(spool\|store\|po\|stats-file\|log\)$/{n;p}'); do
	ok=
	for p in $rw; do
		case $dir/ in "$p"/*) ok=1 ;; esac
	done
	[ -n "$ok" ] || fail "$dir is not under ReadWritePaths ($rw)"
done

cmd=${cmd//\/var\/spool\/ccpump/$work/spool}
cmd=${cmd//\/var\/lib\/ccpump/$work/lib}
mkdir -p "$work/lib" "$work/spool/tmp" "$work/spool/new" "$work/spool/cur"
for i in 1 2 3; do
	printf 'From: a@example.org\r\nTo: alice@example.org\r\nSubject: %d\r\n\r\nhi\r\n' $i \
		>"$work/spool/new/1764288000.M${i}P1.unit"
done
$cmd --once --stats-interval 0 2>"$work/log" || fail "its ExecStart: $(tail -3 "$work/log")"
grep -q '"state": "done", .*"delivered": 3,' "$work/lib/stats.json" ||
	fail "its stats file: $(cat "$work/lib/stats.json" 2>&1)"
"$bin" po stats --po "$work/lib/po" | grep -q '^distinct keys: *3$' ||
	fail "its ExecStart did not deliver the spool: $("$bin" po stats --po "$work/lib/po")"
echo "test_service: the unit verifies, and its command relays a spool"
