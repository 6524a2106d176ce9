#!/bin/sh
# The one list of Debian 12 packages p2pfs needs, to build, test and bench.
# Run as root (or with sudo on PATH): sh .ci/deps.sh   (= make deps)
set -eu

BUILD="build-essential pkg-config libfuse3-dev fuse3 libevent-dev libssl-dev
libcmocka-dev clang libclang-rt-dev"
# libclang-rt-dev: the ASan/UBSan/libFuzzer runtimes; clang only recommends
# it, and recommends are not installed here.
TEST="opentracker aria2 python3 python3-libtorrent mktorrent ffmpeg iproute2
psmisc procps util-linux coreutils kmod tcpdump rtorrent"
BENCH="btfs"

SUDO=
if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null 2>&1 || { echo "deps.sh: run as root" >&2; exit 1; }
	SUDO=sudo
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
# shellcheck disable=SC2086
$SUDO apt-get install -y --no-install-recommends $BUILD $TEST $BENCH

# FUSE needs /dev/fuse: load the module if it is missing (may fail in a
# container; the mknod then gives the node if the host has the driver).
if [ ! -e /dev/fuse ]; then
	$SUDO modprobe fuse 2>/dev/null || true
fi
if [ ! -e /dev/fuse ]; then
	$SUDO mknod -m 0666 /dev/fuse c 10 229 2>/dev/null || true
fi
[ -e /dev/fuse ] || echo "deps.sh: warning: no /dev/fuse, mounts will fail" >&2
echo "deps.sh: done"
