#!/bin/bash
# Mounts that behave like the system's:
#  - by default every node is the mounting user's, modes 0666/0777 minus
#    the umask (0644/0755 here), so `cp -r` out of the mount makes a
#    folder its user can change and remove;
#  - -o uid=,gid=,umask= set them (nobody: 0640/0750), and as nobody a
#    copy is made and removed;
#  - st_blocks is what is cached: `du` of a half-cached file equals the
#    verified pieces under it (checked on a remount without peers against
#    the verified map); statfs: size = the torrent, used = cached;
#  - the mount's source (findmnt, df) is the torrent's name;
#  - mtimes are the torrent's creation date, or a fixed date without one,
#    the same on every mount;
#  - a folder that is not empty is refused unless -o nonempty.
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"
it_setup 11500
P=$IT_BASE
umask 022

gen_data "$T/src/show/a.bin" $((4 << 20))
gen_data "$T/src/show/sub/b.bin" $((1 << 20))
make_torrent "$T/src/show" 18 "$T/show.torrent" # no creation date
ih=$(infohash "$T/show.torrent")
start_aria2_seeder 127.0.0.2 $((P + 1)) "$T/show.torrent" "$T/src"
peer=(--no-trackers --peer 127.0.0.2:$((P + 1)) --bind 127.0.0.5)

# ---- owner and modes by default; a copy is the user's
mount_p2pfs "$T/show.torrent" "$T/mnt" "${peer[@]}" --port $((P + 50))
m="$T/mnt/show"
[ "$(stat -c '%u %g %a' "$m")" = "$(id -u) $(id -g) 755" ] || fail "folder: $(stat -c '%u %g %a' "$m")"
[ "$(stat -c '%u %g %a' "$m/a.bin")" = "$(id -u) $(id -g) 644" ] || fail "file: $(stat -c '%u %g %a' "$m/a.bin")"
[ "$(stat -c %Y "$m/a.bin")" = 946684800 ] || fail "mtime without a creation date: $(stat -c %Y "$m/a.bin")"
[ "$(stat -c %Y "$m/sub")" = 946684800 ] || fail "folder mtime: $(stat -c %Y "$m/sub")"
touch "$m/x" 2>/dev/null && fail "a write to the mount worked"
with_timeout 60 cp -r "$m/sub" "$T/copy" || fail "cp -r out of the mount failed"
[ "$(stat -c %a "$T/copy")" = 755 ] && [ "$(stat -c %a "$T/copy/b.bin")" = 644 ] ||
	fail "the copy's modes: $(stat -c %a "$T/copy" "$T/copy/b.bin" | tr '\n' ' ')"
cmp -s "$T/copy/b.bin" "$T/src/show/sub/b.bin" || fail "the copy differs"
echo more >>"$T/copy/b.bin" && touch "$T/copy/new" && rm -r "$T/copy" || fail "the copy is not the user's"

# the source findmnt and df show
src=$(awk -v m="$T/mnt" '$5 == m { for (i = 7; $i != "-"; i++); print $(i + 2) }' /proc/self/mountinfo)
[ "$src" = show ] || fail "mount source '$src', want the torrent's name"
if command -v findmnt >/dev/null; then
	[ "$(findmnt -n -o SOURCE "$T/mnt")" = show ] || fail "findmnt: $(findmnt -n -o SOURCE "$T/mnt")"
fi

# ---- du and df of a half-cached file: open (head and tail are fetched)
# and one read in the middle
"$IT_PY" -c 'import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); os.pread(fd, 16384, 2 << 20); os.close(fd)' "$m/a.bin" ||
	fail "a read of a.bin failed"
sleep 1 # the head and tail prefetched at open verify
umount_p2pfs "$T/mnt"
mount_p2pfs "$T/show.torrent" "$T/mnt" --no-trackers --bind 127.0.0.5 --port $((P + 51))
bits=$(it_py verified "$T/cache" "$ih" 20)
log "verified map: $bits"
# a.bin is pieces 0..15, b.bin 16..19 (256 KiB pieces, no padding)
want=$(($(grep -o 1 <<<"${bits:0:16}" | wc -l) << 18))
got=$(du -B1 "$m/a.bin" | cut -f1)
log "du a.bin: $got bytes; its verified pieces: $want bytes"
((want > 0 && want < 4 << 20)) || fail "a.bin is not half cached ($want bytes): the test needs it"
[ "$got" = "$want" ] || fail "du of a.bin says $got, the cache holds $want"
total=$(((5 << 20)))
cached=$(($(grep -o 1 <<<"$bits" | wc -l) << 18))
read -r size used avail < <(df -B1 --output=size,used,avail "$T/mnt" | tail -n 1)
log "df: size $size used $used avail $avail"
[ "$size" = "$total" ] && [ "$used" = "$cached" ] && [ "$avail" = $((total - cached)) ] ||
	fail "df: size $size used $used avail $avail, want $total $cached $((total - cached))"
[ "$(du -s -B1 "$T/mnt" | cut -f1)" = "$cached" ] || fail "du of the mount: $(du -s -B1 "$T/mnt")"
umount_p2pfs "$T/mnt"

# ---- -o uid=,gid=,umask= (allow_other: nobody reads a root mount)
for d in "$T" "$(dirname "$T")"; do [ "$d" = /tmp ] || chmod o+x "$d"; done
mount_p2pfs "$T/show.torrent" "$T/mnt2" "${peer[@]}" --port $((P + 52)) \
	-o uid=65534,gid=65534,umask=027,allow_other
[ "$(stat -c '%u %g %a' "$T/mnt2/show")" = "65534 65534 750" ] || fail "-o folder: $(stat -c '%u %g %a' "$T/mnt2/show")"
[ "$(stat -c '%u %g %a' "$T/mnt2/show/a.bin")" = "65534 65534 640" ] || fail "-o file: $(stat -c '%u %g %a' "$T/mnt2/show/a.bin")"
mkdir -p "$T/nobody" && chown 65534:65534 "$T/nobody"
setpriv --reuid=65534 --regid=65534 --clear-groups -- \
	timeout 60 cp -r "$T/mnt2/show/sub" "$T/nobody/sub" 2>"$LOGS/nobody.err" ||
	fail "cp -r as nobody failed: $(cat "$LOGS/nobody.err")"
setpriv --reuid=65534 --regid=65534 --clear-groups -- sh -c 'echo x >>"$1/b.bin" && rm -r "$1"' sh "$T/nobody/sub" ||
	fail "nobody cannot change and remove its copy"
umount_p2pfs "$T/mnt2"

# ---- a torrent with a creation date: its mtime, on every mount
"$P2PFS" create -o "$T/dated.torrent" "$T/src/show/sub/b.bin" >/dev/null 2>&1 || fail "create failed"
date=$("$IT_PY" -c 'import re, sys; print(re.search(rb"13:creation datei(\d+)e", open(sys.argv[1], "rb").read()).group(1).decode())' "$T/dated.torrent")
for n in 1 2; do
	mount_p2pfs "$T/dated.torrent" "$T/mnt3" --no-trackers --bind 127.0.0.5 --port $((P + 52 + n))
	[ "$(stat -c %Y "$T/mnt3/b.bin")" = "$date" ] || fail "mount $n: mtime $(stat -c %Y "$T/mnt3/b.bin"), the torrent's date $date"
	umount_p2pfs "$T/mnt3"
done

# ---- a folder that is not empty
mkdir -p "$T/full" && echo keep >"$T/full/mine"
rc=0
"$P2PFS" mount -f --cache "$T/cache" --no-trackers "$T/show.torrent" "$T/full" >"$LOGS/full.out" 2>&1 || rc=$?
[ "$rc" = 2 ] && grep -q "not empty (-o nonempty mounts over what it holds)" "$LOGS/full.out" ||
	fail "a non-empty folder: status $rc: $(cat "$LOGS/full.out")"
is_mounted "$T/full" && fail "mounted over a non-empty folder"
mount_p2pfs "$T/show.torrent" "$T/full" --no-trackers --bind 127.0.0.5 --port $((P + 60)) -o nonempty
[ -d "$T/full/show" ] || fail "-o nonempty: no mount"
umount_p2pfs "$T/full"
[ "$(cat "$T/full/mine")" = keep ] || fail "the folder's own file is gone"
log PASS
