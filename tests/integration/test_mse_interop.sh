#!/bin/bash
# The MSE core (engine/proto/bt_mse.c) against independent implementations
# that FORCE encryption, through tests/tools/mse_probe (the core over plain
# sockets; the engine has no MSE transport yet):
#  - initiator: the probe fetches every piece (SHA-1 checked) from a
#    python3-libtorrent seeder (in/out_enc_policy forced, allowed_enc_level
#    rc4) and from an aria2c seeder (--bt-require-crypto=true), with
#    --policy require (RC4 must be selected, no plain handshake string on
#    the wire) and prefer, the BitTorrent handshake inside IA or after it;
#    a plain BitTorrent handshake to either is refused (so they do force);
#  - responder: the probe listens and feeds a forced-encryption libtorrent
#    leecher (connect_peer) and an aria2c --bt-require-crypto=true leecher
#    (found through opentracker), which each complete the download with the
#    right sha256.
# Addresses: 127.0.N.x with N = IT_PORT_OFFSET / 100, so two checkouts with
# different offsets never share an address.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_setup 9500
TRK=$IT_BASE
PROBE=$IT_TOOLS/mse_probe
[ -x "$PROBE" ] || fail "no probe at $PROBE (run: make tools)"
"$IT_LT_PY" -c 'import libtorrent' 2>/dev/null || { log "SKIP: no python3-libtorrent"; exit 77; }
NET=127.0.$(((${IT_PORT_OFFSET:-0} / 100) % 256))

S=$T/src
gen_data "$S/clip.bin" $((3 * 1024 * 1024 + 12345))
make_torrent "$S/clip.bin" 18 "$T/clip.torrent" "$(tracker_url $TRK)"
ih=$(infohash "$T/clip.torrent")
npieces=$(((3 * 1024 * 1024 + 12345 + 262143) / 262144))

# python3-libtorrent with encryption forced both ways, RC4 only; uTP, DHT,
# LSD, UPnP, NAT-PMP off. role=seed: serve DIR until killed; role=leech:
# connect_peer(PEER) and download into DIR, exit 0 once complete.
cat >"$T/ltenc.py" <<'PYEOF'
import sys, time
import libtorrent as lt
a = dict(x.split('=', 1) for x in sys.argv[1:])
ses = lt.session({
    'listen_interfaces': '%s:%s' % (a['ip'], a['port']),
    'outgoing_interfaces': a['ip'],
    'enable_dht': False, 'enable_lsd': False, 'enable_upnp': False,
    'enable_natpmp': False, 'dht_bootstrap_nodes': '',
    'enable_outgoing_utp': False, 'enable_incoming_utp': False,
    'out_enc_policy': int(lt.enc_policy.forced),
    'in_enc_policy': int(lt.enc_policy.forced),
    'allowed_enc_level': int(lt.enc_level.rc4),
    'prefer_rc4': True,
    'alert_mask': 0,
})
atp = lt.add_torrent_params()
atp.ti = lt.torrent_info(a['torrent'])
atp.save_path = a['dir']
h = ses.add_torrent(atp)
t0 = time.time()
secs = float(a.get('secs', '60'))
if a['role'] == 'seed':
    while not h.status().is_seeding:
        if time.time() - t0 > secs:
            sys.exit('libtorrent seeder: data not verified in time')
        time.sleep(0.05)
    print('ready', flush=True)
    while time.time() - t0 < secs:
        time.sleep(0.2)
    sys.exit(0)
last = 0
while time.time() - t0 < secs:
    if time.time() - last > 3:
        pip, pport = a['peer'].rsplit(':', 1)
        h.connect_peer((pip, int(pport)))
        last = time.time()
    st = h.status()
    if st.is_seeding:
        print('complete %d bytes in %.2f s' % (st.total_payload_download,
                                               time.time() - t0), flush=True)
        ses.pause()
        sys.exit(0)
    time.sleep(0.1)
print('incomplete: %d pieces' % h.status().num_pieces, flush=True)
sys.exit(1)
PYEOF

# result_field LINE KEY: the value of key=value in a probe result line
result_field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; }

# probe_connect NAME ADDR [probe options...]: fetch everything, print the
# result line; fails unless every piece verified. Sets RES.
probe_connect() {
	local name=$1 addr=$2
	shift 2
	RES=$(with_timeout 40 "$PROBE" connect "$addr" "$T/clip.torrent" --timeout 30 \
		--bind "$NET.30" "$@" 2>"$LOGS/probe-$name.err" | tee "$LOGS/probe-$name.out" | grep '^result:') ||
		fail "$name: probe failed: ${RES:-$(cat "$LOGS/probe-$name.out" "$LOGS/probe-$name.err")}"
	log "$name: $RES"
	[ "$(result_field "$RES" pieces)" = "$npieces/$npieces" ] || fail "$name: not every piece verified"
	[ "$(result_field "$RES" bad)" = 0 ] || fail "$name: a piece failed its hash"
}

# probe_plain_refused NAME ADDR: a plain BitTorrent handshake gets no
# answer (the peer closes), proving the peer forces encryption
probe_plain_refused() {
	local name=$1 addr=$2 res
	if res=$(with_timeout 20 "$PROBE" connect "$addr" "$T/clip.torrent" --plain \
		--timeout 10 --bind "$NET.30" 2>"$LOGS/probe-$name.err" | grep '^result:'); then
		fail "$name: a plain handshake was served: $res"
	fi
	log "$name: plain handshake refused: $res"
	case $res in *"status=peer closed"*) ;; *) fail "$name: expected the peer to close: $res" ;; esac
}

expect_rc4_clean() {
	[ "$(result_field "$RES" selected)" = rc4 ] || fail "$1: RC4 not selected"
	[ "$(result_field "$RES" wire_plain)" = no ] || fail "$1: the plain handshake string crossed the wire"
}

# ---- initiator: libtorrent seeder ----------------------------------------------
LT_SEED=$NET.11:$((TRK + 11))
mkdir -p "$T/lt-seed"
cp -al "$S/." "$T/lt-seed/"
"$IT_LT_PY" "$T/ltenc.py" role=seed ip=$NET.11 port=$((TRK + 11)) \
	torrent="$T/clip.torrent" dir="$T/lt-seed" secs=100 \
	>"$LOGS/lt-seed.out" 2>"$LOGS/lt-seed.err" </dev/null &
it_track $!
LT_SEED_PID=$!
for ((i = 0; i < 300; i++)); do
	grep -q ready "$LOGS/lt-seed.out" 2>/dev/null && wait_port $NET.11 $((TRK + 11)) 0 && break
	pid_alive "$LAST_PID" || fail "libtorrent seeder died: $(cat "$LOGS/lt-seed.err")"
	sleep 0.1
done
grep -q ready "$LOGS/lt-seed.out" || fail "libtorrent seeder not ready"
log "libtorrent seeder (forced rc4) on $LT_SEED"

probe_connect lt-require "$LT_SEED" --policy require
expect_rc4_clean lt-require
probe_connect lt-prefer-noia "$LT_SEED" --policy prefer --no-ia
expect_rc4_clean lt-prefer-noia
probe_plain_refused lt-plain "$LT_SEED"

# ---- initiator: aria2c seeder ----------------------------------------------------
A_SEED=$NET.12:$((TRK + 12))
start_aria2_seeder $NET.12 $((TRK + 12)) "$T/clip.torrent" "$S" \
	--bt-require-crypto=true
A_SEED_PID=$LAST_PID
probe_connect aria2-require "$A_SEED" --policy require
expect_rc4_clean aria2-require
# prefer offers plaintext too: aria2 picks the lowest method its
# --bt-min-crypto-level (plain by default) allows, so this is the
# plaintext-after-handshake path, with our BitTorrent handshake in IA
probe_connect aria2-prefer "$A_SEED" --policy prefer
[ "$(result_field "$RES" selected)" = plain ] || fail "aria2-prefer: expected aria2c to select plaintext"
probe_plain_refused aria2-plain "$A_SEED"
# from here on the probe must be the leechers' only source
stop_aria2 "$A_SEED_PID"
stop_pid "$LT_SEED_PID"

# ---- responder: libtorrent leecher ------------------------------------------------
# serve_probe NAME IP PORT: the probe as an encrypted-only seeder (one
# connection). Sets SERVE_PID.
serve_probe() {
	"$PROBE" serve "$2:$3" "$T/clip.torrent" "$S/clip.bin" --policy require \
		--conns 1 --timeout 60 >"$LOGS/serve-$1.out" 2>"$LOGS/serve-$1.err" </dev/null &
	it_track $!
	SERVE_PID=$!
	wait_port "$2" "$3" 5 || fail "$1: probe does not listen: $(cat "$LOGS/serve-$1.err")"
}

# serve_done NAME: the probe served one encrypted connection with RC4
serve_done() {
	wait_exit "$SERVE_PID" 20 || fail "$1: probe still serving: $(cat "$LOGS/serve-$1.out")"
	local rc res
	rc=$(exit_status "$SERVE_PID")
	res=$(grep '^result: serve from=' "$LOGS/serve-$1.out" | tail -n 1)
	log "$1: $res"
	[ "$rc" = 0 ] || fail "$1: probe exited $rc: $(cat "$LOGS/serve-$1.out")"
	case $res in *" kind=mse selected=rc4 "*) ;; *) fail "$1: not an RC4 MSE connection" ;; esac
	[ "$(result_field "$res" wire_plain)" = no ] || fail "$1: the plain handshake string crossed the wire"
}

serve_probe lt-leech $NET.20 $((TRK + 20))
with_timeout 70 "$IT_LT_PY" "$T/ltenc.py" role=leech ip=$NET.21 port=$((TRK + 21)) \
	torrent="$T/clip.torrent" dir="$T/lt-leech" peer=$NET.20:$((TRK + 20)) secs=50 \
	>"$LOGS/lt-leech.out" 2>"$LOGS/lt-leech.err" </dev/null ||
	fail "libtorrent leecher: $(cat "$LOGS/lt-leech.out" "$LOGS/lt-leech.err")"
log "libtorrent leecher: $(cat "$LOGS/lt-leech.out")"
[ "$(sha_of "$T/lt-leech/clip.bin")" = "$(sha_of "$S/clip.bin")" ] || fail "libtorrent leecher got other bytes"
serve_done lt-leech

# ---- responder: aria2c leecher (finds the probe through the tracker) ------------
start_opentracker $TRK "$ih"
serve_probe aria2-leech $NET.22 $((TRK + 22))
# announce the probe as a seeder, from its own address
"$IT_PY" - "$TRK" "$ih" $NET.22 $((TRK + 22)) <<'PY' || fail "cannot announce the probe"
import http.client, sys, urllib.parse
port, ih, ip, pport = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
q = urllib.parse.quote_from_bytes
c = http.client.HTTPConnection('127.0.0.1', int(port), timeout=5,
                               source_address=(ip, 0))
c.request('GET', '/announce?info_hash=%s&peer_id=%s&port=%s&uploaded=0'
          '&downloaded=0&left=0&compact=1&event=started' %
          (q(bytes.fromhex(ih)), q(b'-PF0100-probeprobe01'), pport))
r = c.getresponse()
body = r.read()
assert r.status == 200 and b'failure' not in body, body
PY
wait_tracker_lists $TRK "$ih" $NET.22:$((TRK + 22))
start_aria2_leecher $NET.23 $((TRK + 23)) "$T/clip.torrent" "$T/aria2-leech" \
	--bt-require-crypto=true
wait_leecher "$LAST_PID" 60
[ "$(sha_of "$T/aria2-leech/clip.bin")" = "$(sha_of "$S/clip.bin")" ] || fail "aria2c leecher got other bytes"
serve_done aria2-leech
log PASS
