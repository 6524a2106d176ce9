#!/bin/sh
# Runs libFuzzer targets.
#   run.sh regress BIN...        replay each target's seed corpus once, then
#                                a 5 s mutation run (into build-fuzz/)
#   run.sh fuzz SECONDS BIN...   fuzz each target for SECONDS (corpus grows
#                                in build-fuzz/corpus/NAME, seeds untouched)
# Target build-fuzz/fuzz_NAME uses seeds in tests/fuzz/corpus/NAME/.
set -e
mode=$1; shift
secs=0
if [ "$mode" = fuzz ]; then secs=$1; shift; fi
n=0
for bin in "$@"; do
	name=$(basename "$bin"); name=${name#fuzz_}
	seeds=tests/fuzz/corpus/$name
	[ -d "$seeds" ] || { echo "fuzz: no seed corpus $seeds" >&2; exit 1; }
	if [ "$mode" = regress ]; then
		"$bin" -runs=0 "$seeds" >/dev/null 2>build-fuzz/$name.log ||
			{ cat build-fuzz/$name.log; echo "fuzz: $name failed"; exit 1; }
		# plus a short bounded mutation run so the target is exercised;
		# new inputs go to a scratch folder, never into the seeds
		scratch=build-fuzz/regress-corpus/$name
		rm -rf "$scratch" && mkdir -p "$scratch"
		"$bin" -max_total_time=5 -max_len=65536 "$scratch" "$seeds" >/dev/null 2>>build-fuzz/$name.log ||
			{ tail -50 build-fuzz/$name.log; echo "fuzz: $name failed"; exit 1; }
	else
		mkdir -p build-fuzz/corpus/$name
		"$bin" -max_total_time="$secs" build-fuzz/corpus/$name "$seeds"
	fi
	n=$((n + 1))
done
echo "fuzz: $n passed, 0 failed"
