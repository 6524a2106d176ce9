#!/bin/bash
# A fast-extension (BEP 6) leecher that sizes its pipeline to the `reqq` of
# the seeder's BEP 10 handshake, or keeps 500 requests in flight when none
# is given (libtorrent's default), downloads a 32 MiB torrent from `p2pfs
# seed`. It must complete with almost no rejects (at most 1% of its
# requests): a seeder that rejects what a well-behaved client pipelines
# wastes a round trip per reject (one real client had 86% of its requests
# rejected). The seeder stays up with bounded memory and exits 0.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/hostile_lib.sh
. "$(dirname "$0")/hostile_lib.sh"
it_setup 6700
P=$IT_BASE

gen_data "$T/src/q.bin" $((32 << 20))
make_torrent "$T/src/q.bin" 18 "$T/q.torrent"
start_p2pfs_seed 127.0.0.5 $((P + 50)) "$T/q.torrent" "$T/src/q.bin"
seeder=$LAST_PID
daemon_watch "$seeder"
cpu0=$(daemon_cpu "$seeder")
w0=$(now_ms)
hostile_start reqq-fast --torrent "$T/q.torrent" --connect 127.0.0.5:$((P + 50)) \
	--bind 127.0.66.31 --depth 500 --stall 15 --secs 80
hostile_end 90
daemon_check "$seeder" reqq-fast "$cpu0" "$w0" 80
req=$(hget "r['requests']")
rej=$(hget "r['rejects']")
log "leecher: reqq $(hget "r['reqq']"), pipeline $(hget "r['depth']"), $req requests, $rej rejects, $(hget "r['chokes']") chokes, $(hget "r['secs']")s"
[ "$(hget "r['complete']")" = True ] || fail "the leecher did not complete its download"
[ "$HOSTILE_RC" = 0 ] || fail "the leecher exited $HOSTILE_RC"
((rej * 100 <= req)) || fail "$rej of $req requests were rejected ($((rej * 100 / req))%)"
stop_p2pfs_seed "$seeder"
log PASS
