#!/bin/bash
# The DHT core (engine/policy/bt_dht, KRPC codec engine/proto/bt_krpc) on a
# real UDP socket (build/tools/dht_probe) against real DHTs on loopback:
# two python3-libtorrent sessions and an aria2c. The probe bootstraps from
# them, finds the peer a libtorrent session announced for a magnet it
# holds and the one aria2c announced for its own magnet, and announces an
# info-hash that libtorrent then finds with dht_get_peers() and that aria2c
# (holding only its magnet) finds and connects to over TCP. Every datagram
# the real clients sent must be accepted by the codec. A second probe with
# only the first one's saved state (no bootstrap) finds the peer again.
# Loopback only; every wait bounded.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_setup 9750
"$IT_LT_PY" -c 'import libtorrent' 2>/dev/null || { log "SKIP: no python3-libtorrent"; exit 77; }
PROBE=$IT_TOOLS/dht_probe
[ -x "$PROBE" ] || fail "no $PROBE (run make build/tools/dht_probe)"

NET=${IT_DHT_NET:-127.0.0} # the /24 of the test's own addresses
P_IP=$NET.40 L0_IP=$NET.41 L1_IP=$NET.42 A_IP=$NET.43
P_PORT=$IT_BASE L0_PORT=$((IT_BASE + 1)) L1_PORT=$((IT_BASE + 2))
A_DHT=$((IT_BASE + 3)) A_PORT=$((IT_BASE + 4)) P_ANN=$((IT_BASE + 5))
# three info-hashes nobody else has: libtorrent's, aria2c's and ours
IH_LT=$(printf 'p2pfs dht interop lt %s' "$IT_BASE" | sha1sum | cut -c1-40)
IH_A2=$(printf 'p2pfs dht interop a2 %s' "$IT_BASE" | sha1sum | cut -c1-40)
IH_P=$(printf 'p2pfs dht interop probe %s' "$IT_BASE" | sha1sum | cut -c1-40)

# Two libtorrent DHT nodes bootstrapping from each other (never the public
# routers); L1 holds a magnet of IH_LT (so it announces its listen port),
# L0 looks IH_P up until it sees the probe's announce, then both keep
# serving until SECS (or until stopped).
cat >"$T/lt_dht.py" <<'PY'
import binascii, json, os, sys, time
import libtorrent as lt
cfg = json.loads(sys.argv[1])
def node(ip, port, boot):
    return lt.session({
        'listen_interfaces': '%s:%d' % (ip, port), 'outgoing_interfaces': ip,
        'enable_dht': True, 'dht_bootstrap_nodes': boot,
        'enable_lsd': False, 'enable_upnp': False, 'enable_natpmp': False,
        'dht_restrict_routing_ips': False, 'dht_restrict_search_ips': False,
        'dht_enforce_node_id': False, 'dht_prefer_verified_node_ids': False,
        'dht_announce_interval': 3,
        'alert_mask': lt.alert.category_t.all_categories,
    })
ses = [node(*n) for n in cfg['nodes']]
parent = os.getppid()
p = lt.parse_magnet_uri('magnet:?xt=urn:btih:' + cfg['magnet'])
p.save_path = cfg['save']
ses[1].add_torrent(p)
want_ih, want_peer = cfg['find']
t0 = time.time(); asked = 0; found = False
while time.time() - t0 < cfg['secs'] and os.getppid() == parent:
    for i, s in enumerate(ses):
        for a in s.pop_alerts():
            if isinstance(a, lt.dht_get_peers_reply_alert):
                peers = ['%s:%d' % x for x in a.peers()]
                print('lt%d: get_peers %s: %s' % (i, a.info_hash, peers), flush=True)
                if not found and str(a.info_hash) == want_ih and want_peer in peers:
                    found = True
                    print('lt: found %s at %s after %.1f s' % (want_ih, want_peer, time.time() - t0), flush=True)
    if not found and time.time() - asked > 1:
        asked = time.time()
        ses[0].dht_get_peers(lt.sha1_hash(binascii.unhexlify(want_ih)))
    time.sleep(0.05)
if not found:
    print('lt: %s not found at %s' % (want_ih, want_peer), flush=True)
sys.exit(0 if found else 1)
PY
mkdir -p "$T/lt-save" "$T/aria2"
cfg=$(printf '{"nodes": [["%s", %d, "%s:%d"], ["%s", %d, "%s:%d"]], "magnet": "%s", "save": "%s", "find": ["%s", "%s:%d"], "secs": 90}' \
	"$L0_IP" "$L0_PORT" "$L1_IP" "$L1_PORT" "$L1_IP" "$L1_PORT" "$L0_IP" "$L0_PORT" \
	"$IH_LT" "$T/lt-save" "$IH_P" "$P_IP" "$P_ANN")
# (bounded by its own deadline and its parent: a `timeout` wrapper would sit
# in a process group of its own and could outlive the test)
"$IT_LT_PY" "$T/lt_dht.py" "$cfg" >"$LOGS/lt.log" 2>&1 </dev/null &
it_track $!
LT_PID=$!
log "libtorrent DHT nodes $L0_IP:$L0_PORT and $L1_IP:$L1_PORT (pid $LT_PID)"

# aria2c: a DHT node of its own (its own routing-table file), entry point
# L0; one magnet it announces itself for, and ours, which only the DHT can
# lead it to. It stops with this shell (--stop-with-process).
aria2c --no-conf --enable-rpc=false --daemon=false \
	--bt-enable-lpd=false --enable-peer-exchange=false --disable-ipv6=true \
	--enable-dht=true --enable-dht6=false --dht-listen-port="$A_DHT" \
	--dht-entry-point="$L0_IP:$L0_PORT" --dht-file-path="$T/aria2/dht.dat" \
	--interface="$A_IP" --bt-external-ip="$A_IP" --listen-port="$A_PORT" \
	--dir="$T/aria2" --log="$LOGS/aria2.log" --log-level=info \
	--console-log-level=warn --summary-interval=0 --stop-with-process=$$ \
	-Z --max-concurrent-downloads=2 \
	"magnet:?xt=urn:btih:$IH_A2" "magnet:?xt=urn:btih:$IH_P" \
	>"$LOGS/aria2.out" 2>&1 </dev/null &
it_track $!
log "aria2c DHT node $A_IP:$A_DHT (pid $LAST_PID)"

# the probe: bootstrap from L0 and aria2c; done when it has found both
# announces, its own announce reached a node, aria2c connected to it and it
# knows the three nodes as good
t0=$(now_ms)
with_timeout 60 "$PROBE" --bind "$P_IP:$P_PORT" \
	--bootstrap "$L0_IP:$L0_PORT" --bootstrap "$A_IP:$A_DHT" \
	--find "$IH_LT=$L1_IP:$L1_PORT" --find "$IH_A2=$A_IP:$A_PORT" \
	--announce "$IH_P:$P_ANN" --expect-tcp-from "$A_IP" \
	--min-nodes 3 --timeout 45 --linger 8 --state "$T/probe.state" \
	>"$LOGS/probe.log" 2>&1 </dev/null ||
	fail "the probe did not finish: $(grep -E '^probe|^stats' "$LOGS/probe.log")"
log "probe: $(grep '^probe: ok' "$LOGS/probe.log") ($(($(now_ms) - t0)) ms in all)"
grep -E '^found|^announced|^tcp from|^lookup' "$LOGS/probe.log" | head -n 12 >&2
grep '^stats' "$LOGS/probe.log" >&2

# everything the real clients sent was a KRPC message the codec took
if grep -q '^refused a datagram' "$LOGS/probe.log"; then
	fail "the codec refused a real client's datagram: $(grep -m3 '^refused' "$LOGS/probe.log")"
fi
grep -q "^found $IH_LT at $L1_IP:$L1_PORT" "$LOGS/probe.log" || fail "libtorrent's announce not found"
grep -q "^found $IH_A2 at $A_IP:$A_PORT" "$LOGS/probe.log" || fail "aria2c's announce not found"
grep -q "^tcp from $A_IP:" "$LOGS/probe.log" || fail "aria2c never connected to the probe's announced port"

# libtorrent found our announce
for ((i = 0; i < 300; i++)); do
	grep -q '^lt: found' "$LOGS/lt.log" && break
	pid_alive "$LT_PID" || break
	sleep 0.1
done
grep -q '^lt: found' "$LOGS/lt.log" || fail "libtorrent did not find the probe's announce: $(tail -n 3 "$LOGS/lt.log")"
log "$(grep '^lt: found' "$LOGS/lt.log")"

# the saved state alone (no bootstrap) leads a new probe back into the DHT
[ -s "$T/probe.state" ] || fail "the probe saved no state"
with_timeout 30 "$PROBE" --bind "$P_IP:$((IT_BASE + 6))" --state "$T/probe.state" \
	--find "$IH_LT=$L1_IP:$L1_PORT" --min-nodes 2 --timeout 20 \
	>"$LOGS/probe2.log" 2>&1 </dev/null ||
	fail "a probe started from the saved state did not get back in: $(grep -E '^probe|^stats' "$LOGS/probe2.log")"
log "probe from saved state: $(grep '^probe: ok' "$LOGS/probe2.log")"
grep -E '^found|^lookup|^stats' "$LOGS/probe2.log" >&2
grep -q '^refused a datagram' "$LOGS/probe2.log" && fail "the codec refused a datagram: $(grep -m3 '^refused' "$LOGS/probe2.log")"
pid_alive "$LT_PID" || fail "libtorrent exited early: $(tail -n 3 "$LOGS/lt.log")"
log "ok"
