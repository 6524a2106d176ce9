#!/bin/bash
# p2pfs cache ls|rm|gc against a cache root with a mounted torrent, an
# unmounted one, a dead store (nothing verified) and leftover temporary
# files: ls lists them all, rm refuses the store in use, gc removes the
# dead store and tidies, gc --max removes the unused store but never the
# one in use, and bad usage exits 2.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_setup 9300
P=$IT_BASE
C=$T/cache

gen_data "$T/a/a.bin" $((4 << 20))
gen_data "$T/b/b.bin" $((2 << 20))
make_torrent "$T/a/a.bin" 18 "$T/a.torrent"
make_torrent "$T/b/b.bin" 18 "$T/b.torrent"
iha=$(infohash "$T/a.torrent")
ihb=$(infohash "$T/b.torrent")
start_aria2_seeder 127.0.0.2 $((P + 1)) "$T/a.torrent" "$T/a"
start_aria2_seeder 127.0.0.3 $((P + 2)) "$T/b.torrent" "$T/b"

# cmd EXPECTED_STATUS ARGS...: run p2pfs, output in $OUT
cmd() {
	local want=$1 rc=0
	shift
	OUT=$(with_timeout 20 "$P2PFS" "$@" 2>&1) || rc=$?
	log "p2pfs $* -> $rc"
	printf '%s\n' "$OUT" | sed 's/^/    /' >&2
	[ "$rc" = "$want" ] || fail "p2pfs $*: status $rc, want $want"
}

mount_p2pfs "$T/b.torrent" "$T/mb" --no-trackers --peer 127.0.0.3:$((P + 2)) \
	--bind 127.0.0.5 --port $((P + 50))
with_timeout 30 head -c $((1 << 20)) "$T/mb/b.bin" >/dev/null || fail "read of b.bin"
umount_p2pfs "$T/mb"
mount_p2pfs "$T/a.torrent" "$T/ma" --no-trackers --peer 127.0.0.2:$((P + 1)) \
	--bind 127.0.0.5 --port $((P + 51))
[ "$(sha_of "$T/ma/a.bin")" = "$(sha_of "$T/a/a.bin")" ] || fail "a.bin differs"

# a dead store and leftovers
dead=0123456789abcdef0123456789abcdef01234567
mkdir -p "$C/$dead"
head -c 5000 /dev/urandom >"$C/$dead/data"
touch "$C/$ihb/verified.tmp" "$C/$ihb/torrent.tmp"
touch -d '2020-01-01' "$C/$ihb"/*

# a mount writes its verified map within a second of a piece verifying
for ((i = 0; i < 50; i++)); do
	"$P2PFS" cache ls --cache "$C" | grep -Eq "^$iha +16/16 " && break
	sleep 0.1
done
cmd 0 cache ls --cache "$C"
grep -Eq "^$iha +16/16 .* yes +a\.bin$" <<<"$OUT" || fail "ls: no in-use line for a.bin"
grep -Eq "^$ihb +[1-9][0-9]*/8 .* 2020-01-01 [0-9:]+ +no +b\.bin$" <<<"$OUT" || fail "ls: no line for b.bin"
grep -Eq "^$dead +- .* no +\?$" <<<"$OUT" || fail "ls: no line for the dead store"
grep -q "^3 cached torrents" <<<"$OUT" || fail "ls: no total"

cmd 1 cache rm --cache "$C" a.bin
grep -q "in use" <<<"$OUT" || fail "rm of a mounted torrent: no reason"
[ -s "$C/$iha/data" ] || fail "rm removed a store in use"
cmd 1 cache rm --cache "$C" nosuch.bin
cmd 2 cache rm --cache "$C"
cmd 2 cache frob
cmd 2 cache gc --max lots --cache "$C"
cmd 2 cache ls --cache "$C" extra
cmd 2 cache ls --max 1G --cache "$C"

cmd 0 cache gc --cache "$C"
[ ! -e "$C/$dead" ] || fail "gc kept the dead store"
[ -d "$C/$ihb" ] && [ -d "$C/$iha" ] || fail "gc without --max removed a live store"
[ ! -e "$C/$ihb/verified.tmp" ] && [ ! -e "$C/$ihb/torrent.tmp" ] || fail "gc left temporary files"

cmd 1 cache gc --cache "$C" --max 1M
[ ! -e "$C/$ihb" ] || fail "gc --max kept the unused store"
[ -s "$C/$iha/data" ] || fail "gc --max removed the store in use"
grep -q "in use" <<<"$OUT" || fail "gc --max: no word about the store in use"

umount_p2pfs "$T/ma"
cmd 0 cache rm --cache "$C" "${iha:0:8}"
[ ! -e "$C/$iha" ] || fail "rm kept the store"
cmd 0 cache ls --cache "$C"
grep -q "no cached torrents" <<<"$OUT" || fail "ls of an empty cache"
log PASS
