#!/bin/bash
# test_magnet_serve — `p2pfs seed` serves its info dict over ut_metadata
# (BEP 9 over BEP 10): a python3-libtorrent session given only the magnet
# link and p2pfs's address (connect_peer; no tracker, no DHT) fetches the
# metadata from p2pfs, checks it against the info-hash, then downloads the
# whole torrent; the files match the source. The metadata is 3 ut_metadata
# pieces (the last one short). Then the same for aria2c, which finds
# p2pfs through the link's tr= (an opentracker). Bounded: 90 s for each.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_setup 9640
"$IT_LT_PY" -c 'import libtorrent' 2>/dev/null || { log "SKIP: no python3-libtorrent"; exit 77; }

S=$T/src/share
gen_data "$S/a.bin" 50M
gen_data "$S/b.bin" 3M
echo hello >"$S/c.txt"
make_torrent "$S" 15 "$T/share.torrent"
ih=$(infohash "$T/share.torrent")
SEED_PORT=$((IT_BASE + 1))
start_p2pfs_seed 127.0.0.21 $SEED_PORT "$T/share.torrent" "$S" --no-trackers
seed=$LAST_PID

cat >"$T/ltmag.py" <<'PY'
import sys, time
import libtorrent as lt
ip, port, magnet, peer, save, out = sys.argv[1:7]
ses = lt.session({
    'listen_interfaces': '%s:%s' % (ip, port), 'outgoing_interfaces': ip,
    'enable_dht': False, 'enable_lsd': False, 'enable_upnp': False,
    'enable_natpmp': False, 'dht_bootstrap_nodes': '',
    'enable_outgoing_utp': False, 'enable_incoming_utp': False,
    'alert_mask': 0})
atp = lt.parse_magnet_uri(magnet)
atp.save_path = save
h = ses.add_torrent(atp)
pip, pport = peer.rsplit(':', 1)
t0 = time.time(); meta = None; last = 0
while time.time() - t0 < 80:
    if time.time() - last > 3:
        h.connect_peer((pip, int(pport))); last = time.time()
    st = h.status()
    if meta is None and st.has_metadata:
        meta = time.time() - t0
        ti = h.torrent_file()
        open(out, 'wb').write(lt.bencode({b'info': lt.bdecode(ti.metadata())}))
        print('metadata after %.3f s, %d bytes' % (meta, ti.metadata_size()), flush=True)
    if st.is_seeding:
        print('complete after %.3f s' % (time.time() - t0), flush=True)
        sys.exit(0)
    time.sleep(0.05)
print('timeout: has_metadata=%s progress=%.3f' % (h.status().has_metadata, h.status().progress))
sys.exit(1)
PY
magnet="magnet:?xt=urn:btih:$ih&dn=share"
with_timeout 90 "$IT_LT_PY" "$T/ltmag.py" 127.0.0.22 $((IT_BASE + 2)) "$magnet" \
	127.0.0.21:$SEED_PORT "$T/leech" "$T/fetched.torrent" >"$LOGS/ltmag.out" 2>&1 ||
	fail "libtorrent did not complete from the magnet: $(cat "$LOGS/ltmag.out")"
log "libtorrent: $(tr '\n' ' ' <"$LOGS/ltmag.out")"
got=$(infohash "$T/fetched.torrent")
[ "$got" = "$ih" ] || fail "the metadata libtorrent got has info-hash $got, not $ih"
compare_trees "$S" "$T/leech/share"
stop_p2pfs_seed "$seed"

# aria2c: the magnet's tr= only
TRK=$((IT_BASE + 3))
make_torrent "$S" 15 "$T/trk.torrent" "$(tracker_url $TRK)"
ih2=$(infohash "$T/trk.torrent")
[ "$ih2" = "$ih" ] || fail "a tracker changed the info-hash"
start_opentracker $TRK "$ih"
start_p2pfs_seed 127.0.0.23 $((IT_BASE + 4)) "$T/trk.torrent" "$S"
seed=$LAST_PID
wait_tracker_lists $TRK "$ih" 127.0.0.23:$((IT_BASE + 4))
mkdir -p "$T/aria"
t0=$(now_ms)
with_timeout 90 aria2c "${IT_ARIA2_COMMON[@]}" --dir="$T/aria" --log="$LOGS/aria2-magnet.log" \
	--interface=127.0.0.24 --bt-external-ip=127.0.0.24 --listen-port=$((IT_BASE + 5)) \
	--seed-time=0 --bt-save-metadata=true --bt-stop-timeout=60 \
	"magnet:?xt=urn:btih:$ih&dn=share&tr=$(tracker_url $TRK)" \
	>"$LOGS/aria2-magnet.out" 2>&1 </dev/null ||
	fail "aria2c did not complete from the magnet: $(tail -n 5 "$LOGS/aria2-magnet.out")"
log "aria2c: magnet resolved and downloaded from p2pfs in $(($(now_ms) - t0)) ms"
compare_trees "$S" "$T/aria/share"
stop_p2pfs_seed "$seed"
log "PASS"
