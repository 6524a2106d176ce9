#!/bin/bash
# test_pex — PEX (BEP 11) both ways with real clients on loopback:
#   1. receiving: a python3-libtorrent seeder L; p2pfs mount B (--peer L,
#      its own port) connects to L first; then p2pfs mount A is given only L
#      and learns B from libtorrent's ut_pex (B's listening port, from B's
#      BEP 10 `p`): A connects to B's listening address (or B, which
#      learnt A the same way, got there first), and never to itself;
#   2. sending: ext_probe (tests/tools) connects to A; A's first ut_pex to
#      it lists the peers A connected to (L, B);
#   3. a private torrent: A's extension handshake has no ut_pex and the
#      probe gets no ut_pex message;
#   4. a seeder found through PEX alone: p2pfs is given only a libtorrent
#      leecher L2 (that wants no piece), connected to an aria2c seeder; L2's
#      ut_pex names the seeder, p2pfs connects to it, L2 is stopped, and the
#      whole file reads right from the seeder.
# Bounded: 40 s for the PEX to arrive.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_setup 9700
"$IT_LT_PY" -c 'import libtorrent' 2>/dev/null || { log "SKIP: no python3-libtorrent"; exit 77; }
PROBE=$IT_TOOLS/ext_probe
[ -x "$PROBE" ] || fail "no $PROBE (run: make tools)"

S=$T/src/share
gen_data "$S/a.bin" 8M
make_torrent "$S" 15 "$T/share.torrent"
ih=$(infohash "$T/share.torrent")
L_IP=127.0.0.71 L_PORT=$((IT_BASE + 1))
"$IT_LT_PY" "$IT_ROOT/tests/bench/ltseed.py" "$L_IP" "$L_PORT" "$T/share.torrent" "$T/src" \
	>"$LOGS/ltseed.out" 2>&1 </dev/null &
it_track $!
for ((i = 0; i < 300; i++)); do
	grep -q '^ready' "$LOGS/ltseed.out" && break
	sleep 0.1
done
wait_port "$L_IP" "$L_PORT" 5 || fail "libtorrent seeder does not listen: $(cat "$LOGS/ltseed.out")"

# wait_log LOG REGEX SECS WHAT
wait_log() {
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		grep -Eq -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	fail "$4 (no '$2' in $1 after $3 s)"
}

B_IP=127.0.0.72 B_PORT=$((IT_BASE + 2))
mount_p2pfs "$T/share.torrent" "$T/mntB" --cache "$T/cB" --bind $B_IP --port $B_PORT --peer $L_IP:$L_PORT
wait_log "$MOUNT_LOG" "connected to '$L_IP:$L_PORT'" 10 "B did not connect to libtorrent"

A_IP=127.0.0.73 A_PORT=$((IT_BASE + 3))
t0=$(now_ms)
mount_p2pfs "$T/share.torrent" "$T/mntA" --cache "$T/cA" --bind $A_IP --port $A_PORT --peer $L_IP:$L_PORT -vv
A_LOG=$MOUNT_LOG
wait_log "$A_LOG" "connecting to '$B_IP:$B_PORT'" 40 "A did not learn B from libtorrent's PEX"
grep -q "'$L_IP:$L_PORT': pex gave [1-9]" "$A_LOG" || fail "no PEX message taken in A's log"
wait_log "$A_LOG" "connected to '$B_IP:[0-9]+'" 10 "A and B did not connect"
sleep 1
grep -q "connecting to '$A_IP:$A_PORT'" "$A_LOG" && fail "A connects to itself (its own address from PEX)"
log "1. A learnt B from libtorrent's PEX and connected after $(($(now_ms) - t0)) ms"

# 2. A's own PEX to a new peer
with_timeout 40 "$PROBE" --info-hash "$ih" --peer $A_IP:$A_PORT --from 127.0.0.74 \
	--listen-port $((IT_BASE + 4)) --timeout 30 --pex-wait 20 >"$LOGS/probe.out" 2>&1 ||
	fail "probe: $(cat "$LOGS/probe.out")"
grep -Eq "^peer 0 ext-handshake v='p2pfs/[^']*' m\.ut_metadata=2 m\.ut_pex=1 metadata_size=[1-9][0-9]* reqq=[1-9][0-9]* yourip=127\.0\.0\.74 p=$A_PORT " "$LOGS/probe.out" ||
	fail "p2pfs's extension handshake: $(grep ext-handshake "$LOGS/probe.out")"
grep -Eq "^peer 0 pex added=.* $L_IP:$L_PORT/" "$LOGS/probe.out" || fail "A's PEX lacks libtorrent: $(grep pex "$LOGS/probe.out")"
grep -Eq "^peer 0 pex added=.* $B_IP:$B_PORT/" "$LOGS/probe.out" || fail "A's PEX lacks B: $(grep pex "$LOGS/probe.out")"
log "2. $(grep '^peer 0 pex' "$LOGS/probe.out")"
umount_p2pfs "$T/mntA"
umount_p2pfs "$T/mntB"

# 3. private: no ut_pex
mkdir -p "$T/priv"
mktorrent -d -p -l 15 -o "$T/priv.torrent" "$S" >>"$LOGS/mktorrent.log" 2>&1 || fail "mktorrent -p"
ihp=$(infohash "$T/priv.torrent")
mount_p2pfs "$T/priv.torrent" "$T/mntP" --cache "$T/cP" --bind $A_IP --port $A_PORT --no-trackers
rc=0
with_timeout 30 "$PROBE" --info-hash "$ihp" --peer $A_IP:$A_PORT --from 127.0.0.75 \
	--listen-port $((IT_BASE + 5)) --timeout 8 --pex-wait 5 >"$LOGS/probe-priv.out" 2>&1 || rc=$?
grep -Eq "^peer 0 ext-handshake .* m\.ut_pex=-1 " "$LOGS/probe-priv.out" ||
	fail "a private torrent's extension handshake offers ut_pex: $(grep ext-handshake "$LOGS/probe-priv.out")"
grep -q "^peer 0 pex" "$LOGS/probe-priv.out" && fail "a private torrent sent ut_pex"
grep -q "^metadata [0-9]* bytes verified" "$LOGS/probe-priv.out" || fail "no metadata from the private torrent's mount"
log "3. private: no ut_pex offered or sent (probe status $rc: it waited for PEX in vain)"
umount_p2pfs "$T/mntP"

# 4. a seeder learnt from PEX
AR_IP=127.0.0.76 AR_PORT=$((IT_BASE + 6))
start_aria2_seeder "$AR_IP" "$AR_PORT" "$T/share.torrent" "$T/src"
L2_IP=127.0.0.77 L2_PORT=$((IT_BASE + 7))
cat >"$T/slowleech.py" <<'PY'
import sys, time
import libtorrent as lt
ip, port, torrent, save, seed = sys.argv[1:6]
ses = lt.session({
    'listen_interfaces': '%s:%s' % (ip, port), 'outgoing_interfaces': ip,
    'enable_dht': False, 'enable_lsd': False, 'enable_upnp': False,
    'enable_natpmp': False, 'dht_bootstrap_nodes': '',
    'enable_outgoing_utp': False, 'enable_incoming_utp': False,
    'close_redundant_connections': False, 'alert_mask': 0})
atp = lt.add_torrent_params()
atp.ti = lt.torrent_info(torrent)
atp.save_path = save
h = ses.add_torrent(atp)
h.prioritize_pieces([0] * atp.ti.num_pieces())  # never a seed
sip, sport = seed.rsplit(':', 1)
print('ready', flush=True)
while True:
    h.connect_peer((sip, int(sport)))
    print('peers', [str(p.ip) for p in h.get_peer_info()],
          'progress %.3f' % h.status().progress, flush=True)
    time.sleep(2)
PY
"$IT_LT_PY" "$T/slowleech.py" "$L2_IP" "$L2_PORT" "$T/share.torrent" "$T/l2" "$AR_IP:$AR_PORT" \
	>"$LOGS/slowleech.out" 2>&1 </dev/null &
it_track $!
L2=$LAST_PID
wait_port "$L2_IP" "$L2_PORT" 10 || fail "the slow leecher does not listen"
sleep 2 # it connects to the seeder
mount_p2pfs "$T/share.torrent" "$T/mnt4" --cache "$T/c4" --bind 127.0.0.78 --no-trackers --peer $L2_IP:$L2_PORT -vv
wait_log "$MOUNT_LOG" "connected to '$AR_IP:$AR_PORT'" 40 "p2pfs did not learn the seeder from the leecher's PEX"
grep -q "'$L2_IP:$L2_PORT': pex gave [1-9]" "$MOUNT_LOG" || fail "no PEX from the leecher"
stop_pid "$L2"
[ "$(sha_of "$T/mnt4/share/a.bin")" = "$(sha_of "$S/a.bin")" ] || fail "the read from the PEX-found seeder differs"
log "4. the seeder came from libtorrent's PEX; with the leecher gone, the file read right from it"
umount_p2pfs "$T/mnt4"
log "PASS"
