#!/bin/bash
# A leecher without the fast extension (the extension-protocol bit only, as
# rtorrent 0.9.8 sets) that keeps 320 requests in flight downloads a 32 MiB
# torrent from `p2pfs seed`. Without BEP 6 it cannot be sent a reject, so a
# request over the seeder's queue cap must never be dropped silently (BEP 3
# gives a choke, which voids every request, to say so): the download must
# complete, every piece verified by the leecher, with no 15 s stall; the
# seeder must stay up with bounded memory and exit 0.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/integration/hostile_lib.sh
. "$(dirname "$0")/hostile_lib.sh"
it_setup 6600
P=$IT_BASE

gen_data "$T/src/n.bin" $((32 << 20))
make_torrent "$T/src/n.bin" 18 "$T/n.torrent"
start_p2pfs_seed 127.0.0.5 $((P + 50)) "$T/n.torrent" "$T/src/n.bin"
seeder=$LAST_PID
daemon_watch "$seeder"
cpu0=$(daemon_cpu "$seeder")
w0=$(now_ms)
hostile_start deep-nofast --torrent "$T/n.torrent" --connect 127.0.0.5:$((P + 50)) \
	--bind 127.0.66.30 --depth 320 --stall 15 --secs 80
hostile_end 90
daemon_check "$seeder" deep-nofast "$cpu0" "$w0" 80
log "leecher: $(hget "'%d of %d pieces, %d requests, %d chokes, %d unchokes, max %d in flight, %d in flight at the end, %ss' % (r['pieces_ok'], $(($(stat -c %s "$T/src/n.bin") >> 18)), r['requests'], r['chokes'], r['unchokes'], r['max_inflight'], r['inflight_at_end'], r['secs'])")"
[ "$(hget "r['max_inflight']")" -ge 300 ] || fail "the leecher never had 300 requests in flight: the case tested nothing"
[ "$(hget "r['complete']")" = True ] ||
	fail "the deep-pipelining leecher did not complete its download (stalled: $(hget "r['stalled']"))"
[ "$HOSTILE_RC" = 0 ] || fail "the leecher exited $HOSTILE_RC"
stop_p2pfs_seed "$seeder"
log PASS
