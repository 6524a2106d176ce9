#!/bin/sh
# Runs every cmocka unit-test binary given; fails if any fails. Each binary
# is bounded in time (UNIT_TIMEOUT seconds, default 120; SIGKILL 5 s after
# the SIGTERM), so a unit test that hangs fails instead of hanging the run.
# Prints one closing line "unit: N passed, N failed".
pass=0; fail=0
secs=${UNIT_TIMEOUT:-120}
for t in "$@"; do
	timeout -k 5 "$secs" "$t"
	rc=$?
	if [ "$rc" = 0 ]; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		case $rc in
		124 | 137) echo "FAILED: $t (timed out after ${secs}s)" ;;
		*) echo "FAILED: $t (status $rc)" ;;
		esac
	fi
done
echo "unit: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
