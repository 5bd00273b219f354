#!/bin/sh
# bench_po_index.sh [N]: a post office whose delivery.log holds N delivered
# (key, recipient) pairs; times one import (open, index rebuilt from the log's tail,
# one duplicate skipped) and po stats, in its default memory and in
# STATS_MEMORY (default 16M; past it stats counts through sorted runs on
# disk).  Prints numbers, never fails on them.
# CCPUMP names the program (default ./build/ccpump).
set -e
N=${1:-300000}
B=${CCPUMP:-./build/ccpump}
D=$(mktemp -d /tmp/ccpump-big-XXXXXX)
$B po init --po $D/po
python3 - "$D/po/delivery.log" "$N" <<'PY'
import sys
path, n = sys.argv[1], int(sys.argv[2])
with open(path, "w") as f:
    for i in range(n):
        f.write("D\tMsg%06X.eml\trecipient %d at hubpo1\trecipient_%d_at_hubpo1.ccm\t1795882167\n" % (i // 3, i % 3, i % 3))
PY
# The last pair of the log again: inside the dedup window, so skipped.
last=$((N - 1))
printf 'Message:\r\n\r\nFrom: A at B\r\nDate: 6/2/98 8:39\r\nTo: recipient %d at hubpo1\r\nX-Spool-Id: Msg%06X.eml\r\nContents:\r\n\r\n' \
	$((last % 3)) $((last / 3)) > $D/dup.ccm
ls -la $D/po/delivery.log | awk '{print $5 " octets"}'
/usr/bin/time -f "import (open: index from a log of $N pairs, 1 duplicate skipped): %e s, %M KB max RSS" $B import --po $D/po $D/dup.ccm
/usr/bin/time -f "po stats over $N lines: %e s, %M KB max RSS" $B po stats --po $D/po
M=${STATS_MEMORY:-16M}
/usr/bin/time -f "po stats --memory $M over $N lines: %e s, %M KB max RSS" \
	$B po stats --po $D/po --memory $M --tmp-dir $D | grep 'runs on disk'
rm -rf $D
