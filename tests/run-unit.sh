#!/bin/sh
# Runs every cmocka unit-test binary given; fails if any fails or runs
# longer than UNIT_TIMEOUT seconds (default 300: a test that hangs fails
# instead of stopping the run). Prints one closing line
# "unit: N passed, N failed".
# nothing but loopback: no LSD multicast from the engines the tests make
export P2PFS_LOOPBACK_ONLY=1
pass=0; fail=0
limit=${UNIT_TIMEOUT:-300}
for t in "$@"; do
	timeout -k 10 "$limit" "$t"
	rc=$?
	if [ "$rc" -eq 0 ]; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
			echo "FAILED: $t (no end after ${limit}s)"
		else
			echo "FAILED: $t"
		fi
	fi
done
echo "unit: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
