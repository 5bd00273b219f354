#!/usr/bin/env bash
# ccpump relay and ccpump queue from the command line: flags and
# combinations that cannot work are refused (status 2, one line naming the
# flag), before anything is made or run.  (The relay at work:
# test_relay_*.sh; bench and demo: ../test_cli_bench.sh; convert, import and
# po: ../ccmail/test_cli.sh.)
set -u
bin=$(realpath "$1")
work=$(mktemp -d)
trap 'kill -9 $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

. "$(dirname "$0")/../expect_usage.sh"

# An empty command: the shell would run the relay's argument itself (the
# batch's file, or a sender's address) as the program.
d="$work/cmd"
mkdir "$d"
expect_usage "--import-cmd" relay --spool "$d/spool" --store "$d/store" --import-cmd "" --once
expect_usage "--bounce-cmd" relay --spool "$d/spool" --store "$d/store" --po "$d/po" \
	--bounce-cmd $' \n\t' --once
# A command that starts with an assignment: run by exec, it would name a
# program FOO=1 and fail with 127 at every batch.
expect_usage "--import-cmd: starts with the assignment FOO=" relay --spool "$d/spool" \
	--store "$d/store" --import-cmd "FOO=1 ccpump-import" --once
expect_usage "--bounce-cmd: starts with the assignment _X1=" relay --spool "$d/spool" \
	--store "$d/store" --po "$d/po" --bounce-cmd " _X1=a sendmail" --once
# A program that is not there, or is no executable file: every run would
# fail with 127 (or 126), and every message be retried until its retries
# ended, then sent to Bad with a report.  By path, or searched in PATH.
expect_usage "--import-cmd: $d/nonexistent/imp: no such file" relay --spool "$d/spool" \
	--store "$d/store" --import-cmd "$d/nonexistent/imp --flag" --once
expect_usage "--import-cmd: /etc: not an executable file" relay --spool "$d/spool" \
	--store "$d/store" --import-cmd "/etc" --once
PATH=/usr/bin:/bin expect_usage "--bounce-cmd: ccpump-no-such-sendmail: not found in PATH (/usr/bin:/bin)" \
	relay --spool "$d/spool" --store "$d/store" --po "$d/po" \
	--bounce-cmd "ccpump-no-such-sendmail -t" --once
# What would keep the file's name (or the address) the relay adds from
# the program: a comment, a line break, an operator, a redirection or a
# '\' at the end, a list, an open quote.  The program ran without it,
# answered 0, and the batch's spool files were removed as delivered.
expect_usage "--import-cmd: '/bin/true # our importer': at octet 11, this '#' begins a comment" \
	relay --spool "$d/spool" --store "$d/store" --import-cmd "/bin/true # our importer" --once
expect_usage "--bounce-cmd: '/bin/true|#x': at octet 11, this '#'" relay --spool "$d/spool" \
	--store "$d/store" --po "$d/po" --bounce-cmd "/bin/true|#x" --once
expect_usage "'/bin/true\x0a-v': at octet 10, a line break" relay --spool "$d/spool" \
	--store "$d/store" --import-cmd $'/bin/true\n-v' --once
for end in ';' '&' '|' '&&'; do
	expect_usage "at octet $((11 + ${#end} - 1)), it ends in this operator" relay \
		--spool "$d/spool" --store "$d/store" --import-cmd "/bin/true $end  " --once
done
for end in '>' '2>' '>>' '<'; do
	expect_usage "at octet $((11 + ${#end} - 1)), it ends in this redirection" relay \
		--spool "$d/spool" --store "$d/store" --import-cmd "/bin/true $end  " --once
done
# exec runs the list's first command only: the importer after it never
# ran, and the first one's 0 was taken for its answer.
for op in ';' '&&' '||'; do
	expect_usage "at octet 11, exec runs only the first command of a list" relay \
		--spool "$d/spool" --store "$d/store" --import-cmd "/bin/true $op /bin/false" --once
done
expect_usage "at octet 11, a '\\' at its end" relay --spool "$d/spool" --store "$d/store" \
	--import-cmd '/bin/true \' --once
expect_usage "at octet 11, this single quote is left open" relay --spool "$d/spool" \
	--store "$d/store" --import-cmd "/bin/true 'a # b" --once
expect_usage "at octet 13, this double quote is left open" relay --spool "$d/spool" \
	--store "$d/store" --import-cmd '/bin/true a "b' --once
[ -z "$(ls -A "$d")" ] || fail "empty commands: made $(ls "$d") before refusing them"
# What the shell would unquote or expand first, and its builtins, are
# left to it: these pass the check (and fail later, as the shell says).
for cmd in "'$d/quoted prog'" '$HOME/imp' 'exec true' "cd $d & true" "true | true" \
	"true 'a # b' \"c#d\" e\\#f x#y 'it''s'"; do
	"$bin" relay --spool "$d/spool" --store "$d/store" --import-cmd "$cmd" --once \
		--stats-interval 0 --log "$work/shell.log" || fail "shell words: '$cmd' refused"
done
echo "1. an empty --import-cmd or --bounce-cmd, one that starts with an assignment, names no program, or would hide the argument added to it, is refused"

# A stats file that could never be written: a directory where it would
# go, or no name at all (the rename into place fails at every write).
d="$work/stats"
mkdir -p "$d/st.json"
expect_usage "stats file $d/st.json: " relay --spool "$d/spool" --store "$d/store" \
	--po "$d/po" --stats-file "$d/st.json" --once
expect_usage "stats file ''" relay --spool "$d/spool" --store "$d/store" --po "$d/po" \
	--stats-file "" --once
[ "$(ls -A "$d")" = st.json ] || fail "stats file: made $(ls "$d") before refusing it"
echo "2. a --stats-file that is a directory, or empty, is refused"

# --list lists in the table only: with --json (which has no listing) or an
# action it would be dropped without a word.
d="$work/queue"
mkdir -p "$d/spool/new" "$d/spool/tmp" "$d/spool/cur" "$d/store"
expect_usage "--list" queue --spool "$d/spool" --store "$d/store" --json --list 50
expect_usage "--list" queue --spool "$d/spool" --store "$d/store" --list 5 --json
expect_usage "--list" queue --store "$d/store" --flush --list 5
expect_usage "--list" queue --spool "$d/spool" --store "$d/store" --requeue-all --list 5
expect_usage "--list" queue --store "$d/store" --resend-report x --list 5
expect_usage "--list" queue --store "$d/store" --delete x --list 5
# --delete is an action of its own, and needs the store.
expect_usage "--delete" queue --store "$d/store" --delete x --flush
expect_usage "--delete" queue --spool "$d/spool" --store "$d/store" --requeue y --delete-all
expect_usage "--store" queue --delete x
"$bin" queue --spool "$d/spool" --store "$d/store" --list 5 >/dev/null ||
	fail "queue --list 5 alone: status $?"
echo "3. queue --list with --json or an action is refused; --delete with another action too"

# --envelope-field takes a header field's name, nothing else.
for bad in "" "X Original" "X-Original-To:" "$(printf 'X\tY')"; do
	expect_usage "--envelope-field" relay --spool "$d/spool" --store "$d/store" --po "$d/po" \
		--once --envelope-field "$bad"
	expect_usage "--envelope-field" convert --envelope-field "$bad" /dev/null
done
echo "3b. --envelope-field refuses what is not a header field's name"

# The spool, the store and the post office are apart: one path given for
# two of them (a slip in a unit file), or the store inside the Maildir, is
# refused before anything is made.
d="$work/apart"
mkdir -p "$d/m"
expect_usage "--store $d/m is the spool" relay --spool "$d/m" --store "$d/m" --po "$d/po" --once
expect_usage "--store $d/m/new is the spool" relay --spool "$d/m" --store "$d/m/new" --po "$d/po" --once
expect_usage "--po $d/m/../m is the spool" relay --spool "$d/m" --store "$d/st" --po "$d/m/../m" --once
expect_usage "--po $d/x and --store $d/x/ are one directory" relay --spool "$d/m" \
	--store "$d/x/" --po "$d/x" --once
ln -s m "$d/link"
expect_usage "--store $d/link is the spool" relay --spool "$d/m" --store "$d/link" --po "$d/po" --once
[ "$(ls -A "$d" | tr '\n' ' ')" = "link m " ] && [ -z "$(ls -A "$d/m")" ] ||
	fail "apart: made $(ls -R "$d") before refusing"
echo "4. the spool, the store and the post office given as one directory: refused"

# The same when the spool is not there yet: the relay makes it first, and
# then the store (or the post office) inside it, however the path is spelt
# (relative to the working directory, through a link to the spool's parent).
d="$work/apart-new"
mkdir -p "$d/real"
ln -s real "$d/ln"
(cd "$d" && expect_usage "--store sp/store is the spool" relay --spool sp --store sp/store \
	--po po --once) || exit 1
(cd "$d" && expect_usage "--po ./sp/./po is the spool" relay --spool sp --store st \
	--po ./sp/./po --once) || exit 1
(cd "$d" && expect_usage "--po sp/x/../po is the spool" relay --spool sp --store st \
	--po sp/x/../po --once) || exit 1
expect_usage "--store $d/ln/m/store is the spool" relay --spool "$d/ln/m" \
	--store "$d/ln/m/store" --po "$d/po" --once
expect_usage "--store $d/real/m/new is the spool" relay --spool "$d/ln/m" \
	--store "$d/real/m/new" --po "$d/po" --once
[ "$(ls -A "$d" | tr '\n' ' ')" = "ln real " ] && [ -z "$(ls -A "$d/real")" ] ||
	fail "apart, spool not made yet: made $(ls -R "$d") before refusing"
echo "5. a store or post office inside a spool not made yet: refused"

# A file where the post office belongs: refused before the spool and the
# store are made, as a file at either of theirs is.
d="$work/pofile"
mkdir "$d"
: >"$d/po"
expect_usage "post office $d/po: not a directory" relay --spool "$d/spool" --store "$d/store" \
	--po "$d/po" --once
[ "$(ls -A "$d")" = po ] || fail "a file as the post office: made $(ls "$d") before refusing it"
echo "6. a file at --po is refused before anything is made"

# An empty directory (an unset variable in a unit file) is said as such,
# before anything is made; the log and the stats file are neither in the
# spool, where the relay would take them for mail and send them to Bad at
# every write, nor one file, where each stats write replaced the log.
d="$work/sidefiles"
mkdir -p "$d/m/new" "$d/m/cur" "$d/m/tmp"
for flag in --spool --store --po; do
	set -- --spool "$d/m" --store "$d/st" --po "$d/po"
	args=()
	while [ $# -gt 0 ]; do
		if [ "$1" = "$flag" ]; then args+=("$1" ""); else args+=("$1" "$2"); fi
		shift 2
	done
	expect_usage "$flag '': no directory given" relay "${args[@]}" --once
done
expect_usage "--store '': no directory given" queue --store ""
expect_usage "--spool '': no directory given" queue --spool "" --store "$d/st"
expect_usage "--po '': no directory given" po stats --po ""
expect_usage "--dir '': no directory given" demo --dir ""
expect_usage "--stats-file $d/m/new/stats.json is inside the spool" relay --spool "$d/m" \
	--store "$d/st" --po "$d/po" --stats-file "$d/m/new/stats.json" --once
expect_usage "--log $d/m/relay.log is inside the spool" relay --spool "$d/m" \
	--store "$d/st" --po "$d/po" --log "$d/m/relay.log" --once
expect_usage "--log $d/same and --stats-file $d/./same are one file" relay --spool "$d/m" \
	--store "$d/st" --po "$d/po" --log "$d/same" --stats-file "$d/./same" --once
[ "$(ls -A "$d" | tr '\n' ' ')" = "m " ] && [ -z "$(ls -A "$d/m/new" "$d/m/cur" "$d/m/tmp" |
	grep -v ':$' | grep .)" ] || fail "side files: made $(ls -R "$d") before refusing"
# A ring past the machine's memory (the flag goes to 2^30: 8 GiB of slots
# and a record for each) is refused in a line, not an out-of-memory abort.
expect_usage "a full ring (--ring-size 1073741824) needs" relay --spool "$d/m" --store "$d/st" \
	--po "$d/po" --ring-size 1073741824 --once
# The demo says so before it writes its spool (a minute and gigabytes at
# the default count): nothing is made.
expect_usage "a full ring (--ring-size 1073741824) needs" demo --dir "$d/demo" \
	--ring-size 1073741824
[ ! -e "$d/demo" ] || fail "demo with a ring past memory made $(ls -R "$d/demo" | head -5)"
echo "6b. an empty directory, a log or stats file in the spool, a log that is the stats file, a ring past memory: refused"

# A spool given as a Maildir's new/ (or cur/): the MTA's mail would never be
# relayed.  Refused before anything is made; the Maildir itself is taken.
d="$work/md"
mkdir -p "$d/mail/new" "$d/mail/cur" "$d/mail/tmp"
for sub in new cur; do
	expect_usage "is the $sub/ folder of the Maildir" relay --spool "$d/mail/$sub" \
		--store "$d/store" --po "$d/po" --once
done
[ "$(ls -A "$d")" = mail ] && [ -z "$(ls -A "$d/mail/new")" ] ||
	fail "a Maildir's new/ as the spool: made $(ls -R "$d") before refusing it"
"$bin" relay --spool "$d/mail" --store "$d/store" --po "$d/po" --once --stats-interval 0 \
	2>"$work/md.err" || fail "the Maildir itself as the spool: $(cat "$work/md.err")"
echo "7. a Maildir's new/ or cur/ given as the spool is refused"

# A flag of the import program's with the built-in post office, which
# runs none: it would do nothing, and is refused rather than dropped,
# naming both flags, before anything is made (either order).  With
# --import-cmd it is taken.
d="$work/imponly"
mkdir "$d"
expect_usage "--import-timeout applies to --import-cmd only: the built-in post office (--po)" \
	relay --spool "$d/spool" --store "$d/store" --po "$d/po" --import-timeout 30 --once
expect_usage "--import-timeout applies to --import-cmd only" relay --import-timeout 0 \
	--spool "$d/spool" --store "$d/store" --po "$d/po" --once
[ -z "$(ls -A "$d")" ] || fail "--import-timeout with --po: made $(ls "$d") before refusing it"
"$bin" relay --spool "$d/spool" --store "$d/store" --import-cmd true --import-timeout 30 \
	--once --stats-interval 0 2>"$work/imponly.err" ||
	fail "--import-timeout with --import-cmd: status $?: $(cat "$work/imponly.err")"
# --addr-buffer and --keep-brackets say what IMPORT takes; with --po the
# post office's po.conf says it, and the relay converts for that.
d="$work/poformat"
mkdir "$d"
expect_usage "--addr-buffer applies to --import-cmd only: with --po the relay converts for the post office's own setting (po.conf; 'ccpump po init --addr-buffer' sets it)" \
	relay --spool "$d/spool" --store "$d/store" --po "$d/po" --addr-buffer 163840 --once
expect_usage "--keep-brackets applies to --import-cmd only" relay --keep-brackets \
	--spool "$d/spool" --store "$d/store" --po "$d/po" --once
[ -z "$(ls -A "$d")" ] || fail "--addr-buffer with --po: made $(ls "$d") before refusing it"
echo "8. --import-timeout, --addr-buffer or --keep-brackets with --po is refused"

# --native-names reaches the relay's conversion: with "address" the .ccm
# the import program gets names the native sender by the local part, not
# by the display name the sender wrote; a bad value is refused.
d="$work/native"
mkdir -p "$d/spool/new" "$d/spool/cur" "$d/spool/tmp"
printf 'From: "Jones, Bob" <alice.smith@cc.example>\nTo: x@y.example\nSubject: n\n\nhi\n' \
	>"$d/spool/new/1764288000.M1P1.test"
printf '#!/bin/sh\ncat "$1" >>"%s/got.ccm"\n' "$d" >"$d/import.sh"
chmod +x "$d/import.sh"
echo "native cc.example PO" >"$d/map"
"$bin" relay --spool "$d/spool" --store "$d/store" --import-cmd "$d/import.sh" --once \
	--map "$d/map" --native-names address --stats-interval 0 --log "$d/log" ||
	fail "--native-names address: relay failed: $(cat "$d/log")"
grep -q "^From: Smith, Alice at PO" "$d/got.ccm" ||
	fail "--native-names address: $(grep '^From' "$d/got.ccm")"
expect_usage "--native-names: 'Address' is not display or address" relay --spool "$d/spool" \
	--store "$d/store" --po "$d/po" --native-names Address --once
echo "8b. --native-names address names a native sender by the local part in the relay"

# -h is --help for every command: its usage on standard output, status 0,
# nothing run.
for cmd in bench relay queue demo convert import po "po init" "po stats" "po show"; do
	out=$("$bin" $cmd -h 2>"$work/h.err") || fail "$cmd -h: status $?: $(cat "$work/h.err")"
	[ "$(printf '%s\n' "$out" | head -n 1 | cut -d' ' -f1-2)" = "usage: ccpump" ] ||
		fail "$cmd -h printed: $(printf '%s\n' "$out" | head -n 1)"
	[ "$out" = "$("$bin" $cmd --help)" ] || fail "$cmd: -h and --help differ"
done
echo "9. -h is --help for every command"

# A value or a stray argument goes into its one line escaped: a newline
# would make two lines (the second one forged), an escape sequence would
# reach the terminal.
d="$work/shown"
mkdir "$d"
expect_usage "--batch: '5\\x0accpump relay: all good' is not" relay --spool "$d/spool" \
	--store "$d/store" --po "$d/po" --batch $'5\nccpump relay: all good'
expect_usage "unexpected argument 'x\\x1b[31m'" relay --spool "$d/spool" --store "$d/store" \
	--po "$d/po" $'x\e[31m'
expect_usage "unknown command 'a\\x0ab'" $'a\nb'
# So is a path in an error, and a library's reason that quotes one.
expect_usage "--log $d/no\\x0asuch/l: No such file" relay --spool "$d/spool" --store "$d/store" \
	--po "$d/po" --log "$d/no"$'\n'"such/l"
expect_usage "--map: $d/no\\x0asuch: cannot open" relay --spool "$d/spool" --store "$d/store" \
	--po "$d/po" --map "$d/no"$'\n'"such"
expect_usage "cannot create $d/no\\x0asuch/d:" demo --dir "$d/no"$'\n'"such/d"
# --site: not empty or blank (EXSITE would stand in without a word), no
# control character (a line break would end the Import file's line).
expect_usage "--site: '' is not a site's name" relay --spool "$d/spool" --store "$d/store" \
	--po "$d/po" --site ""
expect_usage "--site: 'A\\x0d\\x0aTo: x' is not a site's name" relay --spool "$d/spool" \
	--store "$d/store" --po "$d/po" --site $'A\r\nTo: x'
[ -z "$(ls -A "$d")" ] || fail "bad values: made $(ls "$d") before refusing them"
echo "10. values and stray arguments are shown escaped; a bad --site is refused"

# --help gives each default as the flags before it set it, not rounded:
# a 0.4 s timeout is not "never" (0), 1500K is not 1M.
out=$("$bin" relay --import-timeout 0.4 --retry-min 0.25 --max-message-size 1500K \
	--batch-bytes 5G --max-age 1234567 --help)
for want in "0 = never (0.4)" "spread at random (0.25)" "below 4 GiB (1500K)" \
	"the rest go into the next (5G)" "0 = no limit (1234567)"; do
	case "$out" in *"$want"*) ;; *) fail "relay --help does not show '$want'" ;; esac
done
# Nor an error's values: two that differ are not named alike.
expect_usage "--retry-min 600.0000001 is longer than --retry-max 600:" relay --spool "$work/s" \
	--store "$work/st" --po "$work/po" --retry-min 600.0000001 --retry-max 600
echo "11. --help shows the defaults as given"

# --version (-V, version): the project's version as CMakeLists.txt gives it,
# and the libraries', status 0; with an argument, refused.
want=$(sed -n 's/^project(ccpump VERSION \([0-9.]*\).*/\1/p' "$(dirname "$0")/../../CMakeLists.txt")
for v in --version -V version; do
	out=$("$bin" $v) || fail "$v: status $?"
	[ "$(printf '%s\n' "$out" | head -n 1)" = "ccpump $want" ] ||
		fail "$v printed '$(printf '%s\n' "$out" | head -n 1)', not 'ccpump $want'"
	for lib in allocator liburcu ck GMime; do
		printf '%s\n' "$out" | grep -Eq "^  $lib +[^ ]" || fail "$v names no $lib version: $out"
	done
done
expect_usage "--version takes no argument" --version relay
echo "12. --version: the version and the libraries'"

echo "test_cli_relay: ok"
