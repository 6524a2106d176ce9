#!/bin/bash
# The BEP 15 client (bt_udptrk_client) and the announce policy
# (bt_announcer), run by the probe program over a real UDP socket against
# opentracker's UDP port, before the engine uses them:
#  - a connect then two announces (one connect: the connection id is
#    reused), with BEP 41 URL data, registering the peer under the UDP
#    source address, as another UDP peer and an HTTP client both see;
#  - a scrape through the codec counts the peers;
#  - a torrent opentracker does not serve gets its refusal, not a hang;
#  - a silent tracker: retransmissions, then "failed" in bounded time;
#  - BEP 12 tiers: a dead tier 0, then opentracker in tier 1 answers;
#    `stopped` at the end removes the peer from the tracker.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_setup 9500
TRK=$IT_BASE
PROBE=$IT_TOOLS/udptrk_probe
[ -x "$PROBE" ] || fail "no probe at $PROBE (run: make tools)"

IH=5d1e6d9c0f2a4b7e8c3a1f0e9d8c7b6a5f4e3d2c
OTHER=0123456789abcdef0123456789abcdef01234567
start_opentracker "$TRK" "$IH"
URL="udp://127.0.0.1:$TRK/announce?x=1"
# our own loopback addresses: 127.0.0.x, the third byte shifted by the port
# offset's hundreds like every port (two checkouts never meet); nothing
# listens on the silent tracker's address and port
NET=127.0.$(((${IT_PORT_OFFSET:-0} / 100) % 256))
PA=$((TRK + 1)) PB=$((TRK + 2)) PC=$((TRK + 3)) DEAD=$((TRK + 9))

# probe OUT ARGS...: run the probe (bounded), output to $T/OUT
probe() {
	local out=$T/$1
	shift
	with_timeout 30 "$PROBE" --hash "$IH" "$@" >"$out" 2>"$out.err" ||
		fail "probe $* failed: $(cat "$out" "$out.err")"
	sed 's/^/    /' "$out" >&2
}

log "peer A: two announces to $URL"
probe a --bind "$NET.11" --port "$PA" --count 2 --scrape "$URL"
[ "$(grep -c '^reply .* err=0 ' "$T/a")" = 2 ] || fail "A did not get two replies"
grep -q '^stats connects=1 announces=2 retransmits=0 ' "$T/a" ||
	fail "A did not reuse its connection id: $(grep ^stats "$T/a")"
grep -q "^scrape .* leechers=1\$" "$T/a" || fail "the scrape does not count A"

log "peer B sees A at its UDP source address"
probe b --bind "$NET.12" --port "$PB" "udp://127.0.0.1:$TRK"
grep -qx "peer $NET.11:$PA" "$T/b" || fail "opentracker did not hand A out to B"
grep -q '^reply .* err=0 .* leechers=2 ' "$T/b" || fail "B's reply does not count two leechers"
# and so does an HTTP client of the same tracker
wait_tracker_lists "$TRK" "$IH" "$NET.11:$PA"

log "a torrent the tracker does not serve"
probe o --bind "$NET.12" --port "$PB" --hash "$OTHER" "udp://127.0.0.1:$TRK"
grep -q '^reply .* err=-71 (empty announce reply (the tracker does not serve this torrent?))' "$T/o" ||
	fail "no clear refusal for a torrent opentracker does not serve"

log "a silent tracker: retransmission, then failure"
t0=$(now_ms)
probe s --bind "$NET.13" --base-ms 200 --retries 1 "udp://$NET.19:$DEAD"
dt=$(($(now_ms) - t0))
grep -q '^reply .* err=-110 (no reply to the connect after 2 tries)' "$T/s" ||
	fail "the silent tracker did not fail as 'no reply after 2 tries'"
grep -q '^stats connects=2 announces=0 retransmits=1 ' "$T/s" || fail "no retransmission"
# 200 + 400 ms by the schedule; generous bounds for a loaded machine
((dt >= 550 && dt < 10000)) || fail "the silent tracker failed after $dt ms, want ~600"

log "tiers: a dead tier 0, opentracker in tier 1; then stopped"
probe t --tiers --bind "$NET.14" --port "$PC" --base-ms 200 \
	"0:udp://$NET.19:$DEAD/announce" "1:$URL"
grep -q "^announce udp://$NET.19:$DEAD/announce event=started" "$T/t" ||
	fail "tier 0 was not tried first"
grep -q "^answered $URL after" "$T/t" || fail "tier 1 did not answer"
grep -qx "peer $NET.14:$PC" "$T/t" || fail "C is not in tier 1's reply"
grep -q "^announce $URL event=stopped" "$T/t" || fail "no stopped to tier 1"
grep -q "^announce udp://$NET.19:$DEAD/announce event=stopped" "$T/t" &&
	fail "a stopped went to the dead tracker, which never got a started"
grep -qx 'done=1' "$T/t" || fail "the stopped announce did not finish"
grep -q "^status $URL tier=1 working=1 peers=3 fails=0" "$T/t" ||
	fail "status of tier 1 is wrong: $(grep "^status $URL" "$T/t")"
grep -q "^status udp://$NET.19:$DEAD/announce tier=0 working=0 peers=0 fails=1 error=no reply" "$T/t" ||
	fail "status of tier 0 is wrong"
got=$(it_py peers "$TRK" "$IH" | sort | tr '\n' ' ')
case " $got" in *" $NET.14:$PC "*) fail "C is still listed after stopped: $got" ;; esac
case " $got" in *" $NET.11:$PA "*) ;; *) fail "A is gone from the tracker: $got" ;; esac
log PASS
