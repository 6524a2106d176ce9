#!/bin/sh
# Runs libFuzzer targets.
#   run.sh regress BIN...        replay each target's seed corpus once, then
#                                a 5 s mutation run (into build-fuzz/)
#   run.sh fuzz SECONDS BIN...   fuzz each target for SECONDS (corpus grows
#                                in build-fuzz/corpus/NAME, seeds untouched)
#   run.sh long SECONDS BIN...   each target for FUZZ_LONG_RUNS executions
#                                (10,000,000; 0 = no count), at most SECONDS,
#                                then one line per target: execs, execs/s,
#                                coverage (edges, features), corpus size,
#                                peak RSS; fails if any target crashed,
#                                leaked, timed out (an input running > 10 s)
#                                or ran out of memory (crash inputs are kept
#                                in build-fuzz/artifacts/); FUZZ_LONG_JOBS
#                                targets run at a time (default 1)
# Target build-fuzz/fuzz_NAME uses seeds in tests/fuzz/corpus/NAME/. Its
# source may name a length cap in a comment, "fuzz-max-len: N" (default
# 4096): longer inputs only slow a target down when they reach no code that
# shorter ones do not (every byte is a node or a message to allocate and
# check under ASan).
set -e
mode=$1; shift
secs=0
if [ "$mode" = fuzz ] || [ "$mode" = long ]; then secs=$1; shift; fi

max_len() {
	n=$(sed -n 's/.*fuzz-max-len: *\([0-9][0-9]*\).*/\1/p' "tests/fuzz/fuzz_$1.c" 2>/dev/null | head -n 1)
	echo "${n:-4096}"
}

# final_stat LOG KEY: a -print_final_stats value of a libFuzzer log
final_stat() { sed -n "s/^stat::$2: *//p" "$1" | tail -n 1; }

# long_one BIN NAME MAXLEN: one target's long run (SECS); its summary line
# goes to build-fuzz/NAME.long.txt; returns non-zero when it failed
long_one() {
	mkdir -p "build-fuzz/corpus/$2" build-fuzz/artifacts
	lg=build-fuzz/$2.long.log
	echo "fuzz-long: $2, ${FUZZ_LONG_RUNS:-10000000} runs or ${secs}s (max_len $3)"
	rc=0
	runs=${FUZZ_LONG_RUNS:-10000000}
	[ "$runs" = 0 ] && runs=-1
	"$1" -runs="$runs" -max_total_time="$secs" \
		-max_len="$3" -timeout=10 \
		-print_final_stats=1 -artifact_prefix="build-fuzz/artifacts/$2-" \
		"build-fuzz/corpus/$2" "tests/fuzz/corpus/$2" >"$lg" 2>&1 || rc=$?
	last=$(grep -E '^#[0-9]+' "$lg" | tail -n 1)
	verdict=ok
	if [ "$rc" != 0 ]; then
		verdict="FAILED (status $rc, see $lg)"
		grep -E '^==[0-9]+==|^SUMMARY|ERROR: libFuzzer|Test unit written' "$lg" | head -n 20
	fi
	line=$(printf '%-10s %12s execs %8s/s  cov %6s  ft %7s  corpus %-12s rss %5s MB  %s' \
		"$2" "$(final_stat "$lg" number_of_executed_units)" \
		"$(final_stat "$lg" average_exec_per_sec)" \
		"$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')" \
		"$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')" \
		"$(echo "$last" | sed -n 's/.* corp: \([0-9]*\/[0-9]*[a-zA-Z]*\).*/\1/p')" \
		"$(final_stat "$lg" peak_rss_mb)" "$verdict")
	echo "$line" >"build-fuzz/$2.long.txt"
	echo "$line"
	[ "$verdict" = ok ]
}

n=0
failed=0
pids=
running=0
for bin in "$@"; do
	name=$(basename "$bin"); name=${name#fuzz_}
	seeds=tests/fuzz/corpus/$name
	[ -d "$seeds" ] || { echo "fuzz: no seed corpus $seeds" >&2; exit 1; }
	ml=$(max_len "$name")
	if [ "$mode" = regress ]; then
		"$bin" -runs=0 "$seeds" >/dev/null 2>build-fuzz/$name.log ||
			{ cat build-fuzz/$name.log; echo "fuzz: $name failed"; exit 1; }
		# plus a short bounded mutation run so the target is exercised;
		# new inputs go to a scratch folder, never into the seeds
		scratch=build-fuzz/regress-corpus/$name
		rm -rf "$scratch" && mkdir -p "$scratch"
		"$bin" -max_total_time=5 -max_len="$ml" "$scratch" "$seeds" >/dev/null 2>>build-fuzz/$name.log ||
			{ tail -50 build-fuzz/$name.log; echo "fuzz: $name failed"; exit 1; }
	elif [ "$mode" = fuzz ]; then
		mkdir -p build-fuzz/corpus/$name
		"$bin" -max_total_time="$secs" -max_len="$ml" build-fuzz/corpus/$name "$seeds"
	else
		rm -f "build-fuzz/$name.long.txt"
		long_one "$bin" "$name" "$ml" &
		pids="$pids $!"
		running=$((running + 1))
		if [ "$running" -ge "${FUZZ_LONG_JOBS:-1}" ]; then
			for p in $pids; do wait "$p" || failed=$((failed + 1)); done
			pids='' running=0
		fi
	fi
	n=$((n + 1))
done
if [ "$mode" = long ]; then
	for p in $pids; do wait "$p" || failed=$((failed + 1)); done
	summary=build-fuzz/fuzz-long.txt
	: >"$summary"
	for bin in "$@"; do
		name=$(basename "$bin"); name=${name#fuzz_}
		cat "build-fuzz/$name.long.txt" >>"$summary" 2>/dev/null ||
			echo "$name: no result" >>"$summary"
	done
	echo "fuzz-long: ${FUZZ_LONG_RUNS:-10000000} runs or ${secs}s per target, ${FUZZ_LONG_JOBS:-1} at a time:"
	cat "$summary"
	[ "$failed" = 0 ] || { echo "fuzz: $((n - failed)) passed, $failed failed"; exit 1; }
fi
echo "fuzz: $n passed, 0 failed"
