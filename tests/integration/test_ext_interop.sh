#!/bin/bash
# test_ext_interop — the extension-protocol codecs and the metadata fetcher
# against real clients, before the engine uses them. build/tools/ext_probe
# (tests/tools/ext_probe.c: bt_ext, bt_utmeta, bt_metafetch,
# bt_metaserve, bt_pex, bt_lsd over plain sockets) talks to a
# python3-libtorrent seeder and an aria2c seeder of a trackerless torrent
# whose info dict is 41 KB (three ut_metadata pieces, the last one short):
#   1. libtorrent, two connections from two addresses: its BEP 10 handshake
#      parses (ut_metadata, ut_pex, metadata_size = the dict's size,
#      yourip = our address), the dict is fetched and equals, byte for
#      byte, the info span of the .torrent (read by the test's own bencode
#      reader), and each connection gets a ut_pex message listing the
#      other connection's address with the port our handshake announced;
#   2. the same with aria2c;
#   3. both at once, the fetch spread over both clients;
#   4. both at once with the pieces of aria2c's connection corrupted on
#      arrival: bt_metafetch names that connection the liar, and only it,
#      and still completes the right dict;
#   5. BEP 14 inside a network namespace the test creates (lo only): the
#      probe parses libtorrent's and aria2c's announces, and each client
#      connects to the probe after hearing the probe's announce.
# Every probe run is bounded (--timeout, and with_timeout around it).
. "$(dirname "$0")/lib.sh"
it_setup 9500

PROBE=$IT_TOOLS/ext_probe
[ -x "$PROBE" ] || fail "no $PROBE (run: make tools)"
"$IT_LT_PY" -c 'import libtorrent' 2>/dev/null || { log "SKIP: no python3-libtorrent"; exit 77; }

# 64 MiB in 32 KiB pieces: 2049 piece hashes, an info dict of ~41 KB
mkdir -p "$T/data/share"
gen_data "$T/data/share/a.bin" 50M
gen_data "$T/data/share/b.bin" 14M
echo hello >"$T/data/share/c.txt"
make_torrent "$T/data/share" 15 "$T/share.torrent"
ih=$(infohash "$T/share.torrent")
"$IT_PY" - "$T" "$T/share.torrent" "$T/info.expected" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
import it
spans = []
it.bdecode(open(sys.argv[2], 'rb').read(), 0, spans)
open(sys.argv[3], 'wb').write(spans[-1])
PY
size=$(stat -c %s "$T/info.expected")
((size > 2 * 16384 && size < 3 * 16384)) || fail "info dict of $size bytes: not three ut_metadata pieces"
log "info-hash $ih, info dict $size bytes"

LT_IP=127.0.0.2 LT_PORT=$((IT_BASE + 2))
AR_IP=127.0.0.3 AR_PORT=$((IT_BASE + 3))
"$IT_LT_PY" "$IT_ROOT/tests/bench/ltseed.py" "$LT_IP" "$LT_PORT" "$T/share.torrent" "$T/data" \
	>"$LOGS/ltseed.out" 2>&1 </dev/null &
it_track $!
LT_SEED=$LAST_PID
start_aria2_seeder "$AR_IP" "$AR_PORT" "$T/share.torrent" "$T/data" --enable-peer-exchange=true
for ((i = 0; i < 300; i++)); do
	grep -q '^ready' "$LOGS/ltseed.out" && break
	pid_alive "$LT_SEED" || fail "libtorrent seeder died: $(cat "$LOGS/ltseed.out")"
	sleep 0.1
done
grep -q '^ready' "$LOGS/ltseed.out" || fail "libtorrent seeder not ready: $(cat "$LOGS/ltseed.out")"
wait_port "$LT_IP" "$LT_PORT" 5 || fail "libtorrent seeder does not listen"

# probe NAME ARGS...: run the probe (bounded) into $LOGS/probe-NAME.out;
# fails unless it exits 0. probe_bg starts it in the background (PROBE_PID)
# and probe_wait waits for that one. $NSENTER runs it in a namespace.
NSENTER=()
probe_bg() {
	local name=$1
	shift
	with_timeout 60 "${NSENTER[@]}" "$PROBE" --info-hash "$ih" --timeout 40 "$@" \
		>"$LOGS/probe-$name.out" 2>&1 </dev/null &
	PROBE_PID=$!
	PROBE_NAME=$name
}
probe_wait() {
	local rc=0
	wait "$PROBE_PID" || rc=$?
	if [ "$rc" != 0 ]; then
		cat "$LOGS/probe-$PROBE_NAME.out" >&2
		fail "probe $PROBE_NAME failed (status $rc)"
	fi
	log "probe $PROBE_NAME: $(tail -n 1 "$LOGS/probe-$PROBE_NAME.out")"
}
probe() {
	probe_bg "$@"
	probe_wait
}
# want NAME REGEX WHAT: the probe's output has a line matching REGEX
want() {
	grep -Eq -- "$2" "$LOGS/probe-$1.out" || {
		cat "$LOGS/probe-$1.out" >&2
		fail "probe $1: $3"
	}
}
same_info() {
	cmp -s "$T/$1.info" "$T/info.expected" || fail "probe $1: the fetched info dict differs from the .torrent's"
}

# 1. libtorrent
LPX=$((IT_BASE + 11))
probe lt --peer "$LT_IP:$LT_PORT" --from 127.0.0.11 --from 127.0.0.12 \
	--listen-port "$LPX" --pex-wait 20 --out "$T/lt.info" --dump "$T"
same_info lt
want lt "^peer 0 ext-handshake v='libtorrent/[0-9.]+' m\.ut_metadata=[1-9][0-9]* m\.ut_pex=[1-9][0-9]* metadata_size=$size reqq=[1-9][0-9]* yourip=127\.0\.0\.11 " \
	"libtorrent's extension handshake not understood"
want lt "^peer 1 ext-handshake .* yourip=127\.0\.0\.12 " "no yourip on the second connection"
want lt "^peer [01] ut_metadata type=1 piece=2 total_size=$size bytes=$((size - 32768))\$" \
	"no short last piece"
want lt "^peer 0 pex added=.* 127\.0\.0\.12:$LPX/" "libtorrent's PEX to connection 0 lacks connection 1"
want lt "^peer 1 pex added=.* 127\.0\.0\.11:$LPX/" "libtorrent's PEX to connection 1 lacks connection 0"
want lt "^metadata $size bytes verified" "not verified"

# 2. aria2c
APX=$((IT_BASE + 13))
probe aria --peer "$AR_IP:$AR_PORT" --from 127.0.0.13 --from 127.0.0.14 \
	--listen-port "$APX" --pex-wait 20 --out "$T/aria.info"
same_info aria
want aria "^peer 0 ext-handshake v='aria2/[0-9.]+' m\.ut_metadata=[1-9][0-9]* m\.ut_pex=[1-9][0-9]* metadata_size=$size .* p=$AR_PORT " \
	"aria2c's extension handshake not understood"
want aria "^peer [01] pex added=.* 127\.0\.0\.1[34]:$APX/" "aria2c's PEX lacks the other connection"
want aria "^metadata $size bytes verified" "not verified"

# 3. both at once
probe both --peer "$LT_IP:$LT_PORT" --peer "$AR_IP:$AR_PORT" --from 127.0.0.15 \
	--listen-port $((IT_BASE + 15)) --wait-all --out "$T/both.info"
same_info both
want both "^peer 0 ut_metadata type=1 " "nothing fetched from libtorrent"
want both "^peer 1 ut_metadata type=1 " "nothing fetched from aria2c"
! grep -q ' liar' "$LOGS/probe-both.out" || fail "an honest client was called a liar"

# 4. a liar among them (connection 1's pieces corrupted on arrival)
probe liar --peer "$LT_IP:$LT_PORT" --peer "$AR_IP:$AR_PORT" --from 127.0.0.16 \
	--listen-port $((IT_BASE + 16)) --wait-all --corrupt 1 --out "$T/liar.info"
same_info liar
want liar "^peer 1 liar: " "the corrupted connection was not caught"
! grep -q '^peer 0 liar' "$LOGS/probe-liar.out" || fail "libtorrent was blamed for another's lie"

# 5. LSD inside a namespace of our own (lo only, multicast routed on it).
# The probe starts first: a client announces as soon as it starts.
NS=p2pfs-it-ext-$$
ip netns add "$NS" || fail "cannot create a network namespace (root needed)"
trap 'rc=$?; ip netns del "$NS" 2>/dev/null; (exit $rc); it_cleanup' EXIT
ip -n "$NS" link set lo up
ip -n "$NS" link set lo multicast on
ip -n "$NS" route add 239.0.0.0/8 dev lo
NSENTER=(nsenter "--net=/run/netns/$NS")
cat >"$T/ltlsd.py" <<'PY'
import sys, time
import libtorrent as lt
ses = lt.session({'listen_interfaces': '127.0.0.1:%s' % sys.argv[3],
                  'outgoing_interfaces': '127.0.0.1',
                  'enable_dht': False, 'enable_lsd': True,
                  'enable_upnp': False, 'enable_natpmp': False,
                  'dht_bootstrap_nodes': '', 'enable_outgoing_utp': False,
                  'enable_incoming_utp': False, 'alert_mask': 0})
atp = lt.add_torrent_params()
atp.ti = lt.torrent_info(sys.argv[1])
atp.save_path = sys.argv[2]
ses.add_torrent(atp)
time.sleep(60)
PY
LTL_PORT=$((IT_BASE + 20))
probe_bg lsd-lt --lsd --listen-port $((IT_BASE + 21)) --expect-port "$LTL_PORT" --dump "$T"
sleep 0.5
"${NSENTER[@]}" "$IT_LT_PY" "$T/ltlsd.py" "$T/share.torrent" "$T/data" "$LTL_PORT" \
	>"$LOGS/ltlsd.out" 2>&1 </dev/null &
it_track $!
LT_LSD=$LAST_PID
probe_wait
want lsd-lt "^lsd announce port=$LTL_PORT hashes=1 first=$ih cookie=[^-]" "libtorrent's announce not parsed"
want lsd-lt "^lsd peer connected peer_id=-LT" "libtorrent did not act on our announce"
stop_pid "$LT_LSD"

ARL_PORT=$((IT_BASE + 22))
probe_bg lsd-aria --lsd --listen-port $((IT_BASE + 23)) --expect-port "$ARL_PORT"
sleep 0.5
mkdir -p "$T/aria-lsd"
"${NSENTER[@]}" aria2c "${IT_ARIA2_COMMON[@]}" --bt-enable-lpd=true \
	--bt-lpd-interface=127.0.0.1 --dir="$T/aria-lsd" --log="$LOGS/aria2-lsd.log" \
	--listen-port="$ARL_PORT" --seed-time=0 --stop-with-process=$$ \
	-T "$T/share.torrent" >"$LOGS/aria2-lsd.out" 2>&1 </dev/null &
it_track $!
probe_wait
want lsd-aria "^lsd announce port=$ARL_PORT hashes=1 first=$ih cookie=-" "aria2c's announce not parsed"
want lsd-aria "^lsd peer connected peer_id=A2-" "aria2c did not act on our announce"
log "ext interop: OK"
