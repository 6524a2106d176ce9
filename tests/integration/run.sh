#!/bin/bash
# Runs every tests/integration/test_*.sh (or those named as arguments, shell
# patterns allowed: run.sh 'hostile_*' runs the hostile-world suite), each
# in its own process group with an overall timeout (TEST_TIMEOUT, 120 s).
# Prints PASS/FAIL per test, the log of each failed test, and a closing line
# "integration: N passed, N failed". Exit status 77 from a test = SKIP.
# V=1 prints every test's log.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1

TEST_TIMEOUT=${TEST_TIMEOUT:-120}
RUNDIR=$(mktemp -d /tmp/p2pfs-integration.XXXXXX)
export TMPDIR=$RUNDIR
ulimit -c 0

# unmount whatever a test left mounted under RUNDIR; prints how many
sweep_mounts() {
	local n=0 m
	while read -r m; do
		fusermount3 -u -z "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
		n=$((n + 1))
	done < <(awk -v r="$RUNDIR/" 'index($5, r) == 1 { print $5 }' /proc/self/mountinfo)
	echo "$n"
}

finish() {
	sweep_mounts >/dev/null
	rm -rf --one-file-system "$RUNDIR"
}
trap finish EXIT
trap 'exit 130' INT TERM

missing=
for c in fusermount3 mountpoint opentracker aria2c mktorrent python3 ss timeout; do
	command -v "$c" >/dev/null || missing="$missing $c"
done
[ -e /dev/fuse ] || missing="$missing /dev/fuse"
if [ -n "$missing" ]; then
	echo "integration: missing:$missing (run: sh .ci/deps.sh)"
	echo "integration: 0 passed, 1 failed"
	exit 1
fi

if [ $# -gt 0 ]; then
	# names with or without the test_ prefix and .sh; shell patterns
	# (quoted, or left unexpanded by the caller's shell) pick several:
	# run.sh 'hostile_*'
	tests=()
	for a in "$@"; do
		a=${a#tests/integration/}; a=${a%.sh}; a=${a#test_}
		case $a in
		*[*?[]*)
			m=(tests/integration/test_$a.sh)
			[ -e "${m[0]}" ] || { echo "integration: no test matches '$a'"; exit 1; }
			tests+=("${m[@]}") ;;
		*) tests+=("tests/integration/test_$a.sh") ;;
		esac
	done
else
	tests=(tests/integration/test_*.sh)
fi

pass=0 fail=0 skip=0
for t in "${tests[@]}"; do
	name=$(basename "$t" .sh)
	lg=$RUNDIR/$name.log
	t0=$(date +%s)
	# timeout puts itself and the test in a new process group: whatever the
	# test leaves behind is killed with that group below. A background job
	# of a script starts with SIGINT ignored: give the test the default back.
	timeout -k 10 "$TEST_TIMEOUT" env --default-signal=INT,QUIT bash "$t" \
		>"$lg" 2>&1 </dev/null &
	tpid=$!
	wait "$tpid"
	rc=$?
	kill -KILL -- "-$tpid" 2>/dev/null
	left=$(sweep_mounts)
	dt=$(($(date +%s) - t0))
	if [ "$rc" = 0 ] && [ "$left" != 0 ]; then
		echo "($name left $left mount(s) behind)" >>"$lg"
		rc=1
	fi
	if [ "$rc" = 0 ]; then
		pass=$((pass + 1))
		echo "PASS $name (${dt}s)"
		[ "${V:-0}" = 1 ] && sed 's/^/    /' "$lg"
	elif [ "$rc" = 77 ]; then
		skip=$((skip + 1))
		echo "SKIP $name: $(tail -n 1 "$lg")"
	else
		fail=$((fail + 1))
		why="status $rc"
		[ "$rc" = 124 ] && why="timed out after ${TEST_TIMEOUT}s"
		echo "FAIL $name ($why, ${dt}s)"
		# the log ends with the tail of every process log: keep it bounded
		tail -n 400 "$lg" | sed 's/^/    /'
	fi
done
if [ "$skip" -gt 0 ]; then
	echo "integration: $pass passed, $fail failed, $skip skipped"
else
	echo "integration: $pass passed, $fail failed"
fi
[ "$fail" -eq 0 ]
