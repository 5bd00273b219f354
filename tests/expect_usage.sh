# Sourced by the command-line tests, which set bin and define fail().
# expect_usage WORD ARGS...: "$bin" ARGS exits 2 with one line on stderr,
# and that line holds WORD.
expect_usage() {
	local word="$1"; shift
	local err rc
	err=$("$bin" "$@" 2>&1 >/dev/null); rc=$?
	[ "$rc" -eq 2 ] || fail "'$*' exited $rc, not 2: $err"
	[ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || fail "'$*' printed more than one line: $err"
	case "$err" in *"$word"*) ;; *) fail "'$*' error does not name '$word': $err" ;; esac
}
