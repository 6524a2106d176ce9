#!/bin/bash
# --encryption (MSE/PE over TCP, engine/io/bt_conn_mse.c) against real
# clients that FORCE encryption, on loopback:
#  - mounts read the right bytes from a python3-libtorrent seeder (in/out
#    enc_policy forced, allowed_enc_level rc4) and from an aria2c seeder
#    (--bt-require-crypto=true), with --encryption require and prefer; the
#    peers xattr flags the peer E (RC4) or e (MSE, plaintext payload);
#  - `p2pfs seed --encryption require` serves a forced libtorrent leecher
#    and an aria2c --bt-require-crypto=true leecher (through opentracker);
#    `p2pfs seed` (prefer) serves the forced libtorrent leecher too;
#  - against a plain-only libtorrent seeder, --encryption require never
#    falls back: the read fails, and status (sources) says why; prefer
#    falls back to plaintext and reads;
#  - a packet capture (tcpdump on lo) of the require transfers holds neither
#    the BitTorrent protocol string nor any 80-byte run of the payload,
#    while the capture of the plaintext fallback, scanned the same way,
#    holds both (so the scan can fail).
# Addresses 127.0.N.x with N from IT_PORT_OFFSET, as test_mse_interop.sh.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_setup 12100
TRK=$IT_BASE
"$IT_LT_PY" -c 'import libtorrent' 2>/dev/null || { log "SKIP: no python3-libtorrent"; exit 77; }
command -v tcpdump >/dev/null || { log "SKIP: no tcpdump"; exit 77; }
NET=127.0.$(((${IT_PORT_OFFSET:-0} / 100 + 7) % 256))

S=$T/src
SIZE=$((3 * 1024 * 1024 + 54321))
gen_data "$S/clip.bin" $SIZE
make_torrent "$S/clip.bin" 18 "$T/clip.torrent" "$(tracker_url $TRK)"
ih=$(infohash "$T/clip.torrent")
SRC_SHA=$(sha_of "$S/clip.bin")

# python3-libtorrent, encryption forced (enc=forced) or plain only
# (enc=plain); uTP, DHT, LSD, UPnP, NAT-PMP off. role=seed serves DIR until
# killed; role=leech connect_peer(PEER)s and exits 0 once complete.
cat >"$T/ltenc.py" <<'PYEOF'
import sys, time
import libtorrent as lt
a = dict(x.split('=', 1) for x in sys.argv[1:])
forced = a.get('enc', 'forced') == 'forced'
pol = lt.enc_policy.forced if forced else lt.enc_policy.disabled
ses = lt.session({
    'listen_interfaces': '%s:%s' % (a['ip'], a['port']),
    'outgoing_interfaces': a['ip'],
    'enable_dht': False, 'enable_lsd': False, 'enable_upnp': False,
    'enable_natpmp': False, 'dht_bootstrap_nodes': '',
    'enable_outgoing_utp': False, 'enable_incoming_utp': False,
    'out_enc_policy': int(pol), 'in_enc_policy': int(pol),
    'allowed_enc_level': int(lt.enc_level.rc4 if forced else lt.enc_level.both),
    'prefer_rc4': forced,
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

# lt_enc_seed NAME IP PORT ENC: a libtorrent seeder of clip.bin
lt_enc_seed() {
	local name=$1 ip=$2 port=$3 enc=$4 i
	mkdir -p "$T/$name"
	cp -al "$S/." "$T/$name/"
	"$IT_LT_PY" "$T/ltenc.py" role=seed ip="$ip" port="$port" enc="$enc" \
		torrent="$T/clip.torrent" dir="$T/$name" secs=240 \
		>"$LOGS/$name.out" 2>"$LOGS/$name.err" </dev/null &
	it_track $!
	for ((i = 0; i < 300; i++)); do
		grep -q ready "$LOGS/$name.out" 2>/dev/null && wait_port "$ip" "$port" 0 && break
		pid_alive "$LAST_PID" || fail "$name died: $(cat "$LOGS/$name.err")"
		sleep 0.1
	done
	grep -q ready "$LOGS/$name.out" || fail "$name not ready"
	log "$name: libtorrent seeder ($enc) on $ip:$port"
}

# read_mount NAME MNT FLAG: the mount reads every byte right and flags its
# peer FLAG (E or e) in user.p2pfs.peers (the fifth field of a line)
read_mount() {
	local name=$1 mnt=$2 flag=$3 got peers i
	# a part first: the peer stays while we are no seed (and the peers
	# snapshot is published once a second)
	with_timeout 30 head -c 300000 "$mnt/clip.bin" >/dev/null || fail "$name: read failed"
	for ((i = 0; i < 30; i++)); do
		peers=$(xattr_of "$mnt" user.p2pfs.peers)
		awk -v f="$flag" 'index($5, f) { ok = 1 } END { exit !ok }' <<<"$peers" && break
		sleep 0.1
	done
	awk -v f="$flag" 'index($5, f) { ok = 1 } END { exit !ok }' <<<"$peers" || fail "$name: no peer flagged $flag: $peers"
	got=$(with_timeout 60 sha256sum "$mnt/clip.bin" | cut -d' ' -f1) || fail "$name: read failed"
	[ "$got" = "$SRC_SHA" ] || fail "$name: the mount read other bytes"
	log "$name: read $SIZE bytes right; peers: $peers"
}

# ---- the capture: the require transfers, and the plaintext control ----------
P_LT=$((TRK + 11)) P_A2=$((TRK + 12)) P_PLAIN=$((TRK + 13))
P_M=$((TRK + 30)) P_SEED=$((TRK + 40)) P_LTL=$((TRK + 41)) P_A2L=$((TRK + 42))
tcpdump -i lo -n -s 0 -U -B 32768 -Z root -w "$T/wire.pcap" \
	"tcp and (port $P_LT or port $P_A2 or port $P_PLAIN or port $P_SEED)" \
	>"$LOGS/tcpdump.out" 2>"$LOGS/tcpdump.err" </dev/null &
it_track $!
TCPDUMP=$!
for ((i = 0; i < 100; i++)); do
	grep -q 'listening on lo' "$LOGS/tcpdump.err" 2>/dev/null && break
	pid_alive "$TCPDUMP" || fail "tcpdump died: $(cat "$LOGS/tcpdump.err")"
	sleep 0.1
done
grep -q 'listening on lo' "$LOGS/tcpdump.err" || fail "tcpdump not capturing after 10 s"

# ---- mounts from a forced-encryption libtorrent seeder ----------------------------
lt_enc_seed lt-seed $NET.11 $P_LT forced
for pol in require prefer; do
	rm -rf "$T/cache"
	mount_p2pfs "$T/clip.torrent" "$T/m-lt-$pol" --bind $NET.30 --port $P_M \
		--no-trackers --peer $NET.11:$P_LT --encryption $pol
	read_mount "lt-$pol" "$T/m-lt-$pol" E
	umount_p2pfs "$T/m-lt-$pol"
done

# ---- mounts from an aria2c --bt-require-crypto=true seeder ---------------------------
start_aria2_seeder $NET.12 $P_A2 "$T/clip.torrent" "$S" --bt-require-crypto=true
A_SEED=$LAST_PID
rm -rf "$T/cache"
mount_p2pfs "$T/clip.torrent" "$T/m-a2-require" --bind $NET.31 --port $P_M \
	--no-trackers --peer $NET.12:$P_A2 --encryption require
read_mount a2-require "$T/m-a2-require" E
umount_p2pfs "$T/m-a2-require"
# prefer offers plaintext too, which aria2c (min crypto level plain) picks:
# MSE's handshake, then a plaintext payload (left out of the capture's
# check by its address)
rm -rf "$T/cache"
mount_p2pfs "$T/clip.torrent" "$T/m-a2-prefer" --bind $NET.33 --port $P_M \
	--no-trackers --peer $NET.12:$P_A2
read_mount a2-prefer "$T/m-a2-prefer" e
umount_p2pfs "$T/m-a2-prefer"
stop_aria2 "$A_SEED"

# ---- a plain-only seeder: require never falls back, prefer does ------------------------
lt_enc_seed lt-plain $NET.13 $P_PLAIN plain
rm -rf "$T/cache"
mount_p2pfs "$T/clip.torrent" "$T/m-plain-require" --bind $NET.32 --port $P_M \
	--no-trackers --peer $NET.13:$P_PLAIN --encryption require --read-timeout 8
if with_timeout 30 head -c 1000 "$T/m-plain-require/clip.bin" >/dev/null 2>"$LOGS/plain-require.err"; then
	fail "require: read data from a plain-only peer"
fi
src_rec=$(xattr_of "$T/m-plain-require" user.p2pfs.sources)
log "require vs plain-only: read failed ($(cat "$LOGS/plain-require.err")); sources: $src_rec"
grep -q 'error=encrypted%20handshake%20failed%20(--encryption%20require)' <<<"$src_rec" ||
	fail "require vs plain-only: sources do not say why: $src_rec"
"$P2PFS" status "$T/m-plain-require" >"$LOGS/status-plain-require.out" 2>&1 || true
grep -q 'encrypted handshake failed' "$LOGS/status-plain-require.out" ||
	fail "status does not say why: $(cat "$LOGS/status-plain-require.out")"
umount_p2pfs "$T/m-plain-require"
rm -rf "$T/cache"
mount_p2pfs "$T/clip.torrent" "$T/m-plain-prefer" --bind $NET.32 --port $P_M \
	--no-trackers --peer $NET.13:$P_PLAIN
got=$(with_timeout 60 sha256sum "$T/m-plain-prefer/clip.bin" | cut -d' ' -f1) || fail "prefer vs plain-only: read failed"
[ "$got" = "$SRC_SHA" ] || fail "prefer vs plain-only: other bytes"
grep -q "trying plaintext" "$MOUNT_LOG" || fail "prefer: no fallback in the log"
grep -q "connected to '$NET.13:$P_PLAIN' (fast)\$" "$MOUNT_LOG" ||
	fail "prefer vs plain-only: no plaintext connection in the log"
log "prefer vs plain-only: fell back to plaintext, read $SIZE bytes right"
umount_p2pfs "$T/m-plain-prefer"

# ---- p2pfs seed --encryption require serves forced leechers ------------------------------
start_opentracker $TRK "$ih"
start_p2pfs_seed $NET.40 $P_SEED "$T/clip.torrent" "$S/clip.bin" --encryption require
SEED=$LAST_PID
with_timeout 80 "$IT_LT_PY" "$T/ltenc.py" role=leech ip=$NET.41 port=$P_LTL \
	torrent="$T/clip.torrent" dir="$T/lt-leech" peer=$NET.40:$P_SEED secs=60 \
	>"$LOGS/lt-leech.out" 2>"$LOGS/lt-leech.err" </dev/null ||
	fail "libtorrent leecher: $(cat "$LOGS/lt-leech.out" "$LOGS/lt-leech.err")"
log "libtorrent leecher from seed (require): $(cat "$LOGS/lt-leech.out")"
[ "$(sha_of "$T/lt-leech/clip.bin")" = "$SRC_SHA" ] || fail "libtorrent leecher got other bytes"
wait_tracker_peers $TRK "$ih" 1
start_aria2_leecher $NET.42 $P_A2L "$T/clip.torrent" "$T/aria2-leech" --bt-require-crypto=true
wait_leecher "$LAST_PID" 60
[ "$(sha_of "$T/aria2-leech/clip.bin")" = "$SRC_SHA" ] || fail "aria2c leecher got other bytes"
log "aria2c leecher from seed (require): right bytes"
for ip in $NET.41 $NET.42; do
	grep -q "connected to '$ip:[0-9]*' .*(encrypted)" "$SEED_LOG" ||
		fail "the require seed has no encrypted connection from $ip"
done

kill -INT "$TCPDUMP"
wait_exit "$TCPDUMP" 10 || fail "tcpdump did not stop"
# a plain handshake to a require seed (not captured: it holds the
# protocol string): closed, nothing served
"$IT_PY" - $NET.40 $P_SEED "$ih" <<'PY' || fail "the require seed answered a plain handshake"
import socket, sys
ip, port, ih = sys.argv[1], int(sys.argv[2]), bytes.fromhex(sys.argv[3])
s = socket.create_connection((ip, port), timeout=10)
s.sendall(b'\x13BitTorrent protocol' + bytes(8) + ih + b'-IT0000-plainplain00')
try:
    d = s.recv(100)
except ConnectionResetError:
    d = b''
sys.exit(1 if d else 0)
PY
stop_pid "$SEED"

# ---- p2pfs seed (prefer) serves a forced libtorrent leecher -------------------------------
start_p2pfs_seed $NET.43 $((TRK + 43)) "$T/clip.torrent" "$S/clip.bin"
with_timeout 80 "$IT_LT_PY" "$T/ltenc.py" role=leech ip=$NET.44 port=$((TRK + 44)) \
	torrent="$T/clip.torrent" dir="$T/lt-leech2" peer=$NET.43:$((TRK + 43)) secs=60 \
	>"$LOGS/lt-leech2.out" 2>"$LOGS/lt-leech2.err" </dev/null ||
	fail "libtorrent leecher (prefer seed): $(cat "$LOGS/lt-leech2.out" "$LOGS/lt-leech2.err")"
[ "$(sha_of "$T/lt-leech2/clip.bin")" = "$SRC_SHA" ] || fail "libtorrent leecher (prefer seed) got other bytes"
grep -q "connected to '$NET.44:[0-9]*' .*(encrypted)" "$SEED_LOG" ||
	fail "the prefer seed did not accept the encrypted connection"
log "libtorrent leecher from seed (prefer): $(cat "$LOGS/lt-leech2.out")"

# ---- what the capture shows ----------------------------------------------------------------
log "capture: $(stat -c %s "$T/wire.pcap") bytes; $(tail -n 2 "$LOGS/tcpdump.err" | tr '\n' ' ')"
drops=$(sed -n 's/^\([0-9]*\) packets dropped by kernel.*/\1/p' "$LOGS/tcpdump.err")
[ "${drops:-0}" = 0 ] || fail "the capture is incomplete: tcpdump dropped $drops packets"
"$IT_PY" - "$T/wire.pcap" "$S/clip.bin" $P_PLAIN $NET.33 <<'EOF' >"$LOGS/scan.out" 2>&1 ||
import socket, struct, sys
pcap, src, plain_port = sys.argv[1], sys.argv[2], int(sys.argv[3])
# the prefer mount that aria2c served a plaintext payload (after MSE)
skip_ip = socket.inet_aton(sys.argv[4])
d = open(pcap, 'rb').read()
magic = struct.unpack('<I', d[:4])[0]
end = '<' if magic in (0xa1b2c3d4, 0xa1b23c4d) else '>'
link = struct.unpack(end + 'I', d[20:24])[0]
off, flows = 24, {}
while off + 16 <= len(d):
    _, _, incl, _ = struct.unpack(end + 'IIII', d[off:off + 16])
    pkt = d[off + 16:off + 16 + incl]
    off += 16 + incl
    ip = pkt[14:] if link == 1 else pkt[16:] if link == 113 else pkt[4:]
    if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != 6:
        continue
    ihl = (ip[0] & 15) * 4
    tot = struct.unpack('>H', ip[2:4])[0]
    tcp = ip[ihl:tot]
    sport, dport = struct.unpack('>HH', tcp[:4])
    data = tcp[(tcp[12] >> 4) * 4:]
    if data:
        flows.setdefault((ip[12:16], sport, ip[16:20], dport), []).append(data)
payload = open(src, 'rb').read()
# every 16-byte window at a multiple of 64: any run of 80 bytes holds one
win = set(payload[i:i + 16] for i in range(0, len(payload) - 16, 64))
pstr = b'\x13BitTorrent protocol'
total = {'enc': 0, 'plain': 0}
hits = {'enc': [0, 0], 'plain': [0, 0]}  # pstr, payload windows
for (sa, sp, da, dp), parts in flows.items():
    s = b''.join(parts)
    if skip_ip in (sa, da):
        continue
    kind = 'plain' if plain_port in (sp, dp) else 'enc'
    total[kind] += len(s)
    if s.count(pstr):
        print('protocol string in %s:%d -> %s:%d' % (socket.inet_ntoa(sa), sp, socket.inet_ntoa(da), dp))
    hits[kind][0] += s.count(pstr)
    hits[kind][1] += sum(1 for i in range(len(s) - 15) if s[i:i + 16] in win)
print('bytes %s; pstr/payload runs %s' % (total, hits))
ok = True
if total['enc'] < 5 * len(payload):
    print('the capture of the encrypted transfers is too small'); ok = False
if hits['enc'] != [0, 0]:
    print('plaintext on the wire of the encrypted transfers'); ok = False
if hits['plain'][0] == 0 or hits['plain'][1] < len(payload) // 128:
    print('the scan did not find the plaintext transfer'); ok = False
sys.exit(0 if ok else 1)
EOF
	fail "capture: $(cat "$LOGS/scan.out")"
log "capture: $(cat "$LOGS/scan.out")"
log PASS
