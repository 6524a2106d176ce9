#!/bin/bash
# Errors that name the problem, each on one line: a file that is not a
# torrent, a magnet link, a URL; no /dev/fuse at all (a mount namespace
# with an empty /dev), no access to it (as nobody, with fusermount3 out of
# the way); -o allow_other for a user without user_allow_other; a --bind
# address that is not this machine's; the same torrent mounted twice
# (where, and --cache); -o rw and an unknown -o; `cache rm` with a prefix
# too short; `create -t` with a scheme p2pfs cannot announce to (a
# warning, the torrent is still made). And --peer HOST:PORT is resolved:
# a mount reads from a seeder given as localhost:PORT.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_setup 11600
P=$IT_BASE

gen_data "$T/src/e.bin" $((1 << 20))
make_torrent "$T/src/e.bin" 18 "$T/e.torrent"
mkdir -p "$T/mnt" "$T/mnt2"

# expect STATUS PATTERN CMD...: CMD exits STATUS and prints exactly one
# line, which matches PATTERN (grep -E); a usage error's "try 'p2pfs X
# --help'" hint does not count
expect() {
	local want=$1 pat=$2 rc=0 out
	shift 2
	out=$(with_timeout 20 "$@" 2>&1 </dev/null) || rc=$?
	out=$(grep -v "^try 'p2pfs .*--help'$" <<<"$out" || true)
	log "$(printf '%q ' "${@:1:3}")... -> $rc: $out"
	[ "$rc" = "$want" ] || fail "status $rc, want $want: $*: $out"
	[ "$(grep -c . <<<"$out")" = 1 ] || fail "not one line: $*: $out"
	grep -Eq -- "$pat" <<<"$out" || fail "'$out' does not match '$pat'"
}

head -c 4096 /dev/zero >"$T/zero.torrent"
printf 'ID3\x03\x00 not a torrent' >"$T/song.torrent"
for cmd in info "mount -f" "seed -f"; do
	extra=("$T/mnt")
	[ "$cmd" = info ] && extra=()
	[ "$cmd" = "seed -f" ] && extra=("$T/src")
	# shellcheck disable=SC2086
	expect 2 "^p2pfs: $T/zero.torrent: not a \.torrent file$" "$P2PFS" $cmd "$T/zero.torrent" "${extra[@]}"
	# shellcheck disable=SC2086
	expect 2 "^p2pfs: $T/song.torrent: not a \.torrent file$" "$P2PFS" $cmd "$T/song.torrent" "${extra[@]}"
done
expect 2 "^p2pfs: 'magnet:\?xt=urn:btih:0123456789abcdef0123456789abcdef01234567': a magnet link; this command takes \.torrent files only" \
	"$P2PFS" seed -f "magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567" "$T/src"
expect 2 "^p2pfs: magnet:\?xt=urn:btih:0123: " \
	"$P2PFS" mount -f "magnet:?xt=urn:btih:0123" "$T/mnt"
expect 2 "^p2pfs: 'https://tracker\.example/e\.torrent': a URL; p2pfs does not download \.torrent files: fetch it first" \
	"$P2PFS" info "https://tracker.example/e.torrent"
expect 2 "^p2pfs: $T/nothere\.torrent: No such file or directory$" "$P2PFS" info "$T/nothere.torrent"

# options
expect 2 "^p2pfs: mount: -o rw: a p2pfs mount is read-only$" "$P2PFS" mount -o rw "$T/e.torrent" "$T/mnt"
expect 2 "^p2pfs: mount: unknown mount option 'frob' \(see 'p2pfs mount --help'\)$" "$P2PFS" mount -o ro,frob "$T/e.torrent" "$T/mnt"
expect 2 "^p2pfs: --bind 192\.0\.2\.1: not an address of this machine" \
	"$P2PFS" mount -f --no-trackers --bind 192.0.2.1 --cache "$T/cache" "$T/e.torrent" "$T/mnt"
expect 2 "^p2pfs: --peer 'host': want HOST:PORT" \
	"$P2PFS" mount -f --peer host --cache "$T/cache" "$T/e.torrent" "$T/mnt"

# the same torrent twice
mount_p2pfs "$T/e.torrent" "$T/mnt" --no-trackers --bind 127.0.0.5 --port $((P + 50))
mpid=$LAST_PID
expect 1 "^p2pfs: 'e\.bin' is already mounted on '$T/mnt' \(pid $mpid\); to mount it twice, give this mount a cache of its own: --cache DIR$" \
	"$P2PFS" mount -f --no-trackers --cache "$T/cache" "$T/e.torrent" "$T/mnt2"
is_mounted "$T/mnt2" && fail "mounted twice on one cache"
umount_p2pfs "$T/mnt"

# cache rm: a prefix too short
expect 2 "^p2pfs: cache: 'abc' is too short for an info-hash: give at least 6 of its digits" \
	"$P2PFS" cache rm --cache "$T/cache" abc

# create -t with a scheme p2pfs cannot announce to: a warning, a torrent
rc=0
"$P2PFS" create -o "$T/w.torrent" -t wss://t.example/announce -t http://127.0.0.1:1/announce,udp://127.0.0.1:1 \
	"$T/src/e.bin" >/dev/null 2>"$LOGS/create.err" || rc=$?
log "create -t wss://...: status $rc: $(cat "$LOGS/create.err")"
[ "$rc" = 0 ] && [ -s "$T/w.torrent" ] || fail "create failed ($rc) or made no torrent"
[ "$(grep -c . "$LOGS/create.err")" = 1 ] &&
	grep -q "^p2pfs: create: warning: 'wss://t\.example/announce': p2pfs announces to http://, https:// and udp:// trackers only" "$LOGS/create.err" ||
	fail "create's warning: $(cat "$LOGS/create.err")"
rc=0; out=$("$P2PFS" create -o "$T/h.torrent" -t https://t.example/a "$T/src/e.bin" 2>&1) || rc=$?
[ "$rc" = 0 ] && ! grep -q warning <<<"$out" || fail "create warned about https: $out"

# --peer localhost:PORT
start_aria2_seeder 127.0.0.1 $((P + 1)) "$T/e.torrent" "$T/src"
mount_p2pfs "$T/e.torrent" "$T/mnt" --no-trackers --peer localhost:$((P + 1)) \
	--bind 127.0.0.1 --port $((P + 51)) --cache "$T/cache3"
[ "$(sha_of "$T/mnt/e.bin")" = "$(sha_of "$T/src/e.bin")" ] || fail "no data through --peer localhost"
grep -q "peer 'localhost:$((P + 1))' is 127.0.0.1:$((P + 1))" "$MOUNT_LOG" || fail "the log does not say what localhost was"
umount_p2pfs "$T/mnt"

# as nobody: -o allow_other without user_allow_other; /dev/fuse closed
N=$T/nob
mkdir -p "$N/mnt" && cp "$T/e.torrent" "$N/" && chown -R 65534:65534 "$N"
for d in "$T" "$(dirname "$T")"; do [ "$d" = /tmp ] || chmod o+x "$d"; done
nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups -- env HOME="$N" XDG_RUNTIME_DIR=)
if grep -Eq '^[[:space:]]*user_allow_other' /etc/fuse.conf 2>/dev/null; then
	log "SKIP the allow_other check: /etc/fuse.conf has user_allow_other"
else
	expect 2 "^p2pfs: -o allow_other: fusermount3 allows it only when /etc/fuse.conf has the line 'user_allow_other'" \
		"${nobody[@]}" "$P2PFS" mount -f --no-trackers -o allow_other --cache "$N/cache" "$N/e.torrent" "$N/mnt"
fi
if unshare -m true 2>/dev/null; then
	touch "$T/fakefuse" && chmod 600 "$T/fakefuse"
	expect 1 "^p2pfs: no access to /dev/fuse \(mode 600, owner root\): Permission denied; install fuse3" \
		unshare -m -- sh -c 'mount --bind "$1" /dev/fuse && mount --bind /bin/false "$(command -v fusermount3)" && shift && exec "$@"' \
		sh "$T/fakefuse" "${nobody[@]}" \
		"$P2PFS" mount -f --no-trackers --cache "$N/cache" "$N/e.torrent" "$N/mnt"
	touch "$T/null"
	expect 1 "^p2pfs: no /dev/fuse: load the FUSE module \('modprobe fuse' as root\) or, in a container, pass the device in" \
		unshare -m -- sh -c 'mount --bind /dev/null "$1" && mount -t tmpfs tmpfs /dev && touch /dev/null && mount --bind "$1" /dev/null && shift && exec "$@"' \
		sh "$T/null" "$P2PFS" mount -f --no-trackers --cache "$T/cache4" "$T/e.torrent" "$T/mnt2"
else
	log "SKIP the /dev/fuse checks: no mount namespaces here"
fi
is_mounted "$T/mnt2" && fail "something got mounted"
log PASS
