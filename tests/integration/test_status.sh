#!/bin/bash
# p2pfs status MNT while mounted against two aria2c seeders: it lists every
# file with its progress, both peers with their client and rates, and the
# totals; the xattrs it reads (user.p2pfs.stats, user.p2pfs.peers,
# user.p2pfs.progress) parse on their own; bad usage exits 2, a folder that
# is not a p2pfs mount (also the current one, without an operand) exits 1.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_setup 9400
TRK=$IT_BASE

gen_data "$T/src/show/one.bin" $((3 << 20))
gen_data "$T/src/show/sub/two.bin" $((5 << 20))
make_torrent "$T/src/show" 18 "$T/show.torrent" "$(tracker_url $TRK)"
ih=$(infohash "$T/show.torrent")
start_opentracker $TRK "$ih"
start_aria2_seeder 127.0.0.2 $((TRK + 1)) "$T/show.torrent" "$T/src"
start_aria2_seeder 127.0.0.3 $((TRK + 2)) "$T/show.torrent" "$T/src"
wait_tracker_peers $TRK "$ih" 2

mount_p2pfs "$T/show.torrent" "$T/mnt" --bind 127.0.0.5 --port $((TRK + 50)) \
	--cache-size 64M
[ "$(sha_of "$T/mnt/show/one.bin")" = "$(sha_of "$T/src/show/one.bin")" ] ||
	fail "one.bin differs"

xattr() { "$IT_PY" -c 'import os, sys; sys.stdout.write(os.getxattr(sys.argv[1], sys.argv[2]).decode())' "$@"; }

# the engine publishes its peers every second
for ((i = 0; i < 50; i++)); do
	n=$(xattr "$T/mnt" user.p2pfs.peers | wc -l)
	[ "$n" -ge 2 ] && break
	sleep 0.2
done
peers=$(xattr "$T/mnt" user.p2pfs.peers)
log "user.p2pfs.peers:"$'\n'"$peers"
for ip in 127.0.0.2 127.0.0.3; do
	grep -Eq "^$ip:[0-9]+ aria2/[0-9.]+ [0-9]+ [0-9]+ [DdUuISFEe-]+$" <<<"$peers" ||
		fail "user.p2pfs.peers has no well-formed line for $ip"
done
stats=$(xattr "$T/mnt" user.p2pfs.stats)
log "user.p2pfs.stats:"$'\n'"$stats"
get() { awk -v k="$1" '$1 == k { print $2 }' <<<"$stats"; }
for k in down_rate up_rate downloaded uploaded peers seeds pieces_have \
	pieces_total hash_fails cache_used cache_limit evictions; do
	[[ "$(get $k)" =~ ^[0-9]+$ ]] || fail "user.p2pfs.stats: no number for $k"
done
[ "$(get pieces_total)" = 32 ] || fail "pieces_total $(get pieces_total)"
[ "$(get peers)" = 2 ] && [ "$(get seeds)" = 2 ] || fail "peers/seeds $(get peers)/$(get seeds)"
(($(get downloaded) >= 3 << 20)) || fail "downloaded $(get downloaded)"
[ "$(get cache_limit)" = $((64 << 20)) ] || fail "cache_limit $(get cache_limit)"
[ "$(xattr "$T/mnt/show/one.bin" user.p2pfs.progress)" = 100.0 ] ||
	fail "progress of one.bin"

rc=0
out=$(with_timeout 20 "$P2PFS" status "$T/mnt" 2>&1) || rc=$?
log "p2pfs status -> $rc"$'\n'"$out"
[ "$rc" = 0 ] || fail "status exited $rc"
grep -Eq '^  \[#{20}\] 100\.0% +3\.0 MiB  show/one\.bin$' <<<"$out" || fail "status: one.bin line"
grep -Eq '^  \[[#.]{20}\] +[0-9.]+% +5\.0 MiB  show/sub/two\.bin$' <<<"$out" || fail "status: two.bin line"
grep -Eq '^  127\.0\.0\.2:[0-9]+ +aria2/' <<<"$out" || fail "status: peer 127.0.0.2"
grep -Eq '^  127\.0\.0\.3:[0-9]+ +aria2/' <<<"$out" || fail "status: peer 127.0.0.3"
grep -Eq '^pieces +[0-9]+ of 32 ' <<<"$out" || fail "status: pieces"
grep -Eq '^peers +2 connected, 2 seeds$' <<<"$out" || fail "status: peer count"
grep -Eq '^cache +.* of 64\.0 MiB' <<<"$out" || fail "status: cache line"

mkdir -p "$T/plain"
rc=0; out=$("$P2PFS" status "$T/plain" 2>&1) || rc=$?
[ "$rc" = 1 ] && grep -q "not a p2pfs mount" <<<"$out" || fail "status of a plain folder: $rc $out"
# without an operand: the current folder, here not a mount
rc=0; out=$(cd "$T/plain" && "$P2PFS" status 2>&1) || rc=$?
[ "$rc" = 1 ] && grep -q "not a p2pfs mount" <<<"$out" || fail "status in a plain folder: $rc $out"
rc=0; "$P2PFS" status "$T/nowhere" >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "status of a missing folder exited $rc"
rc=0; "$P2PFS" status --frob "$T/mnt" >/dev/null 2>&1 || rc=$?
[ "$rc" = 2 ] || fail "status --frob exited $rc"
umount_p2pfs "$T/mnt"
log PASS
