# stats_lib.sh: reading a relay's --stats-file in the relay's tests, sourced
# by relay_lib.sh and by test_full.sh (which keeps its own set-up).
#
# stats_true FILE EXPR: status 0 when FILE holds a JSON object s for which
# the Python expression EXPR is true; 1 when it is false, and when FILE is
# missing or not yet whole (a poll may meet it between two writes).
stats_true() {
	python3 - "$1" "$2" 2>/dev/null <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
sys.exit(0 if eval(sys.argv[2]) else 1)
PY
}
