#!/bin/bash
# `p2pfs seed` alone feeds a python3-libtorrent leecher (its own 127.0.0.4,
# uTP off, DHT/LSD/UPnP/NAT-PMP off) a whole multi-file torrent: once
# found through opentracker, once by handle.connect_peer() to a seeder with
# --no-trackers; and a torrent made by libtorrent itself with BEP 47 pad
# files (a v1+v2 hybrid: p2pfs serves its v1 side, pad bytes as zeros).
# The files match the source (sha256).
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_setup 8670
TRK=$IT_BASE
"$IT_LT_PY" -c 'import libtorrent' 2>/dev/null || { log "SKIP: no python3-libtorrent"; exit 77; }

S=$T/src/media
gen_data "$S/film.mkv" $((20 * 1024 * 1024 + 999))
gen_data "$S/subs/en.srt" 4321
gen_data "$S/subs/fr.srt" 1
: >"$S/empty.nfo"
gen_data "$S/extra/x/y.bin" $((3 * 1024 * 1024 - 7))
make_torrent "$S" 18 "$T/media.torrent" "$(tracker_url $TRK)"
ih=$(infohash "$T/media.torrent")
start_opentracker $TRK "$ih"

# 1. through the tracker (and told nothing else)
start_p2pfs_seed 127.0.0.5 $((TRK + 50)) "$T/media.torrent" "$S"
seed=$LAST_PID
wait_tracker_lists $TRK "$ih" 127.0.0.5:$((TRK + 50))
lt_leech "$T/lt1.json" torrent="$T/media.torrent" save="$T/leech1" \
	ip=127.0.0.4 port=$((TRK + 60)) secs=60 ||
	fail "libtorrent did not complete: $(cat "$T/lt1.json")"
log "libtorrent (tracker): $(cut -c1-40 "$T/lt1.json")... $(grep -o '"secs": [0-9.]*' "$T/lt1.json")"
compare_trees "$S" "$T/leech1/media"
stop_p2pfs_seed "$seed"

# 2. no tracker: connect_peer() to the seeder
make_torrent "$S" 18 "$T/notrk.torrent"
start_p2pfs_seed 127.0.0.6 $((TRK + 51)) "$T/notrk.torrent" "$S" --no-trackers
seed=$LAST_PID
lt_leech "$T/lt2.json" torrent="$T/notrk.torrent" save="$T/leech2" \
	ip=127.0.0.4 port=$((TRK + 61)) peers=127.0.0.6:$((TRK + 51)) secs=60 ||
	fail "libtorrent did not complete: $(cat "$T/lt2.json")"
# p2pfs was its only possible peer (libtorrent drops seeds once complete)
total=$(find "$S" -type f -printf "%s\n" | awk "{ s += \$1 } END { print s }")
grep -q "\"downloaded\": $total," "$T/lt2.json" || fail "libtorrent did not download $total bytes: $(cat "$T/lt2.json")"
log "libtorrent (connect_peer): $(grep -o '"secs": [0-9.]*' "$T/lt2.json")"
compare_trees "$S" "$T/leech2/media"
stop_p2pfs_seed "$seed"

# 3. pad files, from libtorrent's own create_torrent
"$IT_LT_PY" - "$S" "$T/pad.torrent" <<'PY' || fail "cannot make the pad-file torrent"
import os, sys
import libtorrent as lt
fs = lt.file_storage()
lt.add_files(fs, sys.argv[1])
ct = lt.create_torrent(fs, 64 * 1024)
lt.set_piece_hashes(ct, os.path.dirname(sys.argv[1]))
e = ct.generate()
pads = [f for f in e[b'info'][b'files'] if b'p' in f.get(b'attr', b'')]
print('%d pad files' % len(pads))
assert pads, 'libtorrent made no pad files'
open(sys.argv[2], 'wb').write(lt.bencode(e))
PY
start_p2pfs_seed 127.0.0.7 $((TRK + 52)) "$T/pad.torrent" "$S" --no-trackers
seed=$LAST_PID
lt_leech "$T/lt3.json" torrent="$T/pad.torrent" save="$T/leech3" \
	ip=127.0.0.4 port=$((TRK + 62)) peers=127.0.0.7:$((TRK + 52)) secs=60 ||
	fail "libtorrent did not complete the pad-file torrent: $(cat "$T/lt3.json")"
log "libtorrent (pad files): $(grep -o '"secs": [0-9.]*' "$T/lt3.json")"
compare_trees "$S" "$T/leech3/media"
stop_p2pfs_seed "$seed"
log PASS
