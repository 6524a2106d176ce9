#!/bin/bash
# A torrent whose only tracker is https://: opentracker behind a TLS front
# of the test's own (a certificate for 127.0.0.1 signed by a CA the test
# makes with openssl), one aria2c seeder announcing over plain HTTP to the
# same opentracker. With the CA in SSL_CERT_FILE (how OpenSSL's default
# trust store is pointed elsewhere) the mount finds the seeder through the
# https tracker alone and reads the right bytes; without it, p2pfs refuses
# the certificate and says why in its log, and never sends the announce.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_setup 9600
TRK=$IT_BASE
TLS=$((IT_BASE + 1))

# the CA and the tracker's certificate
C=$T/pki
mkdir -p "$C"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-days 2 -subj "/CN=p2pfs test CA" -keyout "$C/ca.key" -out "$C/ca.pem" \
	-addext basicConstraints=critical,CA:TRUE \
	-addext keyUsage=critical,keyCertSign >>"$LOGS/openssl.log" 2>&1 ||
	fail "openssl: no CA: $(tail -n 3 "$LOGS/openssl.log")"
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-subj "/CN=127.0.0.1" -keyout "$C/srv.key" -out "$C/srv.csr" \
	>>"$LOGS/openssl.log" 2>&1 || fail "openssl: no key"
printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$C/ext"
openssl x509 -req -in "$C/srv.csr" -CA "$C/ca.pem" -CAkey "$C/ca.key" \
	-CAcreateserial -days 1 -extfile "$C/ext" -out "$C/srv.pem" \
	>>"$LOGS/openssl.log" 2>&1 || fail "openssl: no certificate"

# the TLS front: each GET goes to opentracker's HTTP port, logged
cat >"$T/tlsfront.py" <<'PY'
import http.server, ssl, sys, urllib.request
port, backend, cert, key, logf = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with open(logf, 'a') as f:
            f.write('GET %s\n' % self.path.split('?')[0])
        try:
            body = opener.open(backend + self.path, timeout=5).read()
            self.send_response(200)
        except Exception as e:
            body = b'd14:failure reason5:erroree'
            self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv = http.server.ThreadingHTTPServer(('127.0.0.1', port), H)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
PY

gen_data "$T/src/movie.bin" $((3 * 1024 * 1024 + 777))
# the same info-hash (mktorrent -d): one torrent per tracker URL
make_torrent "$T/src/movie.bin" 16 "$T/https.torrent" "https://127.0.0.1:$TLS/announce"
make_torrent "$T/src/movie.bin" 16 "$T/http.torrent" "$(tracker_url "$TRK")"
ih=$(infohash "$T/https.torrent")
[ "$ih" = "$(infohash "$T/http.torrent")" ] || fail "the two torrents differ"
start_opentracker "$TRK" "$ih"
"$IT_PY" "$T/tlsfront.py" "$TLS" "http://127.0.0.1:$TRK" "$C/srv.pem" "$C/srv.key" \
	"$T/front.log" >"$LOGS/tlsfront.log" 2>&1 </dev/null &
it_track $!
wait_port 127.0.0.1 "$TLS" 5 || fail "the TLS front did not listen: $(cat "$LOGS/tlsfront.log")"
# the front answers with a certificate of our CA
# (the verdict line, not the exit status: s_client may exit 1 when the
# front closes the idle connection first)
echo | with_timeout 10 openssl s_client -connect "127.0.0.1:$TLS" -CAfile "$C/ca.pem" \
	-verify_ip 127.0.0.1 -verify_return_error >"$LOGS/s_client.log" 2>&1 || true
grep -q "Verify return code: 0 (ok)" "$LOGS/s_client.log" ||
	fail "the TLS front's certificate does not verify: $(tail -n 5 "$LOGS/s_client.log")"
: >"$T/front.log"

start_aria2_seeder 127.0.0.2 $((TRK + 2)) "$T/http.torrent" "$T/src"
wait_tracker_peers "$TRK" "$ih" 1

log "untrusted: the CA is not in the store"
mount_p2pfs "$T/https.torrent" "$T/mnt" --bind 127.0.0.5 --port $((TRK + 50))
end=$(($(now_ms) + 15000))
until grep -q "certificate verify failed" "$MOUNT_LOG"; do
	(($(now_ms) < end)) || fail "no certificate error in the log: $(tail -n 5 "$MOUNT_LOG")"
	sleep 0.1
done
grep "certificate verify failed" "$MOUNT_LOG" | head -n 1 >&2
grep -q "unable to get local issuer certificate" "$MOUNT_LOG" ||
	fail "the log does not say why the certificate was refused"
[ ! -s "$T/front.log" ] || fail "an announce went through an untrusted connection: $(cat "$T/front.log")"
umount_p2pfs "$T/mnt"

log "trusted: SSL_CERT_FILE points at the CA"
export SSL_CERT_FILE=$C/ca.pem
mount_p2pfs "$T/https.torrent" "$T/mnt" --bind 127.0.0.5 --port $((TRK + 50))
unset SSL_CERT_FILE
a=$(sha_of "$T/src/movie.bin")
b=$(sha_of "$T/mnt/movie.bin") || true
[ "$a" = "$b" ] || fail "sha256 through the mount $b, source $a"
grep -q '^GET /announce$' "$T/front.log" || fail "p2pfs never announced through the TLS front"
log "announces through the TLS front: $(grep -c . "$T/front.log")"
umount_p2pfs "$T/mnt"
log PASS
