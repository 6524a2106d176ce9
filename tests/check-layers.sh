#!/bin/bash
# check-layers.sh — the layering rules of engine/ and cache/ (make
# check-layers, part of make check). Run from the top of the tree.
#
# Layers, lowest first; a file may include project headers of its own layer
# or of a lower one only:
#   engine/base    log, hashing, crypto helpers, bitfield, addresses   0
#   engine/proto   codecs: bencode, metainfo, wire, trackers, ...        1
#   engine/policy  I/O-free cores driven by `now`: picker, choker, ...   2
#   cache/         the piece store: may include base only                1*
#   engine/io      sockets, libevent, transports, file hashing           3
#   engine/        the glue: engine, torrents, peers, threads            4
#   fs/            the FUSE frontend and the command line                5
# (* cache/ sits beside proto: it may include engine/base and cache/ only,
# and only io, the glue and fs/ may include it.)
#
# Below io (base, proto, policy) nothing includes libevent or calls the
# socket API: those layers are I/O-free, so tests can drive them with bytes
# and a clock.
set -u
cd "$(dirname "$0")/.." || exit 1

rank_of_dir() {
	case "$1" in
	engine/base) echo 0 ;;
	engine/proto) echo 1 ;;
	cache) echo 1 ;;
	engine/policy) echo 2 ;;
	engine/io) echo 3 ;;
	engine) echo 4 ;;
	fs) echo 5 ;;
	*) echo 99 ;;
	esac
}

declare -A where=()
for d in engine/base engine/proto engine/policy engine/io engine cache fs; do
	for h in "$d"/*.h; do
		[ -e "$h" ] || continue
		b=$(basename "$h")
		if [ -n "${where[$b]:-}" ]; then
			echo "check-layers: header $b is in both ${where[$b]} and $d"
			exit 1
		fi
		where[$b]=$d
	done
done

bad=0
complain() {
	echo "check-layers: $*"
	bad=$((bad + 1))
}

for d in engine/base engine/proto engine/policy engine/io engine cache; do
	own=$(rank_of_dir "$d")
	for f in "$d"/*.[ch]; do
		[ -e "$f" ] || continue
		while IFS= read -r line; do
			inc=${line#*\"}
			inc=${inc%%\"*}
			hd=${where[$inc]:-}
			if [ -z "$hd" ]; then
				complain "$f includes \"$inc\", which is no header of engine/, cache/ or fs/"
				continue
			fi
			[ "$hd" = "$d" ] && continue
			r=$(rank_of_dir "$hd")
			if [ "$d" = cache ] && [ "$hd" != engine/base ]; then
				complain "$f (cache/) includes $hd/$inc: cache/ may use engine/base only"
			elif [ "$hd" = cache ] && [ "$own" -lt 3 ]; then
				complain "$f ($d) includes cache/$inc: only io, the glue and fs/ may"
			elif [ "$r" -gt "$own" ]; then
				complain "$f ($d) includes $hd/$inc, a higher layer"
			fi
		done < <(grep -E '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f")
	done
done

# I/O-free layers: no libevent, no socket calls.
for d in engine/base engine/proto engine/policy; do
	for f in "$d"/*.[ch]; do
		[ -e "$f" ] || continue
		if grep -nE '#[[:space:]]*include[[:space:]]*<event2?/' "$f"; then
			complain "$f ($d) includes libevent"
		fi
		# strip comments and strings roughly, then look for socket calls
		if sed -e 's://.*$::' -e 's:/\*.*\*/::g' -e 's:"[^"]*"::g' "$f" |
			grep -nE '(^|[^_a-zA-Z0-9.>])(socket|connect|bind|listen|accept4?|send|sendto|sendmsg|recv|recvfrom|recvmsg|setsockopt|getsockopt|getaddrinfo|poll|epoll_wait|select)[[:space:]]*\('; then
			complain "$f ($d) calls the socket API"
		fi
	done
done

if [ "$bad" -gt 0 ]; then
	echo "check-layers: $bad violation(s)"
	exit 1
fi
echo "check-layers: ok"
