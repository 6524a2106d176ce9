# p2pfs — plain Makefile.
# Targets: all (./p2pfs), check (unit + asan + fuzz regression + integration),
# unit, asan, integration, integration-hostile, fuzz, fuzz-long, bench, demo,
# install, uninstall, format, clean; tools (test programs of the integration
# tests).
# Quiet unless V=1.

CC      ?= cc
CLANG   ?= clang
PREFIX  ?= /usr/local
VERSION := 0.1.0

PKGS     := fuse3 libevent libevent_pthreads libevent_openssl openssl
# engine/ is layered by folder (see tests/check-layers.sh): base, proto,
# policy, io, and the glue in engine/ itself.
ENGINE_DIRS := engine/base engine/proto engine/policy engine/io engine
CPPFLAGS += -D_GNU_SOURCE -DPFS_VERSION='"$(VERSION)"' \
            $(addprefix -I,$(ENGINE_DIRS)) -Icache -Ifs \
            $(shell pkg-config --cflags $(PKGS))
CFLAGS   ?= -O2 -g
override CFLAGS += -std=c11 -Wall -Wextra -Werror -MMD -MP -pthread
LDLIBS   += $(shell pkg-config --libs $(PKGS)) -pthread
CMOCKA_LIBS := $(shell pkg-config --libs cmocka)

ifeq ($(V),1)
Q :=
else
Q := @
endif

LIB_SRCS  := $(foreach d,$(ENGINE_DIRS) cache,$(wildcard $(d)/*.c)) $(filter-out fs/main.c,$(wildcard fs/*.c))
MAIN_SRC  := fs/main.c
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
TOOL_SRCS := $(wildcard tests/tools/*.c)

B := build
LIB_OBJS  := $(LIB_SRCS:%.c=$(B)/%.o)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(B)/tests/%)
TOOL_BINS := $(TOOL_SRCS:tests/tools/%.c=$(B)/tools/%)

# Every test, benchmark and demo run stays on loopback: with this set p2pfs
# never uses the public DHT routers, LSD multicast or port mapping.
export P2PFS_LOOPBACK_ONLY := 1

# fuzz objects are intermediates of the fuzz binaries: keep them
.SECONDARY:

.PHONY: all check check-layers unit asan asan-unit integration integration-asan integration-asan-run integration-hostile fuzz fuzz-build fuzz-regress fuzz-long bench demo install uninstall format clean deps tools
all: p2pfs

p2pfs: $(B)/fs/main.o $(B)/libp2pfs.a
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/libp2pfs.a: $(LIB_OBJS)
	@echo "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $^

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(B)/tests/%: tests/unit/%.c $(B)/libp2pfs.a
	@mkdir -p $(dir $@)
	@echo "  CCLD    $@"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(B)/libp2pfs.a $(LDLIBS) $(CMOCKA_LIBS)

# The simulated DHT network (tests/sim) is linked into the DHT's simulation
# test, the bench's DHT row and the loopback DHT probe.
SIM_SRC := tests/sim/dht_sim.c
$(B)/tests/test_dht $(B)/tests/test_dht_sim: $(B)/tests/%: tests/unit/%.c $(SIM_SRC) tests/sim/dht_sim.h $(B)/libp2pfs.a
	@mkdir -p $(dir $@)
	@echo "  CCLD    $@"
	$(Q)$(CC) $(CPPFLAGS) -Itests/sim $(CFLAGS) -o $@ $< $(SIM_SRC) $(B)/libp2pfs.a $(LDLIBS) $(CMOCKA_LIBS)

# The bench's DHT row: lookups in the simulated network.
$(B)/bench/dht_bench: tests/bench/dht_bench.c $(SIM_SRC) tests/sim/dht_sim.h $(B)/libp2pfs.a
	@mkdir -p $(dir $@)
	@echo "  CCLD    $@"
	$(Q)$(CC) $(CPPFLAGS) -Itests/sim $(CFLAGS) -o $@ $< $(SIM_SRC) $(B)/libp2pfs.a $(LDLIBS)

# test tools the integration tests run (tests/tools/*_probe.c drive the
# I/O-free cores over real sockets against real clients)
$(B)/tools/%: tests/tools/%.c $(B)/libp2pfs.a
	@mkdir -p $(dir $@)
	@echo "  CCLD    $@"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(B)/libp2pfs.a $(LDLIBS)

tools: $(TOOL_BINS)

# ---- tests -----------------------------------------------------------------
unit: $(UNIT_BINS)
	@sh tests/run-unit.sh $(UNIT_BINS)

# The same unit tests built with ASan+UBSan in their own tree.
asan:
	$(Q)$(MAKE) --no-print-directory B=build-asan CC=$(CLANG) \
	  CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all" \
	  LDFLAGS="-fsanitize=address,undefined" unit p2pfs-asan tools

p2pfs-asan: $(B)/fs/main.o $(B)/libp2pfs.a
	@echo "  LD      $@"
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

integration: p2pfs tools
	@bash tests/integration/run.sh

# The same integration suite against the ASan+UBSan binary: a leak or UB in
# the daemon makes it exit non-zero, which the tests catch.
# The probes of the interop tests are the ASan builds too (IT_TOOLS). Its
# ports are shifted by 15000 more: `make check` runs both suites at once,
# and the two must never bind the same port. (integration-asan-run: the
# same without building first, for check, which built it already.)
integration-asan: asan
	@$(MAKE) --no-print-directory integration-asan-run

integration-asan-run:
	@P2PFS=./p2pfs-asan IT_TOOLS=build-asan/tools \
	  IT_PORT_OFFSET=$$(($${IT_PORT_OFFSET:-0} + 15000)) \
	  bash tests/integration/run.sh

# Only the hostile-world suite (scripted misbehaving peers and trackers).
integration-hostile: p2pfs
	@bash tests/integration/run.sh 'hostile_*'

# libFuzzer targets (clang): `make fuzz` fuzzes each target for FUZZ_SECONDS;
# `make fuzz-regress` (part of check) replays each seed corpus once, plus a
# short mutation run; `make fuzz-long` runs every target FUZZ_LONG_RUNS
# times (at most FUZZ_LONG_SECONDS each) and prints execs, execs/s and
# coverage per target (tests/fuzz/run.sh). What makes them fast (see tests/fuzz/run.sh): -O2;
# UBSan in trap mode (with its runtime handlers every check is a branch to a
# call that SanitizerCoverage counts as an edge: three times the edges, and
# libFuzzer's per-edge bookkeeping, for nothing); the library linked from an
# archive, so a target carries only the modules it calls (not the whole
# engine's coverage counters); a length cap per target.
FUZZ_SECONDS ?= 60
FUZZ_LONG_RUNS ?= 10000000
FUZZ_LONG_SECONDS ?= 900
FB := build-fuzz
FUZZ_CFLAGS := -O2 -g -fno-omit-frame-pointer \
	-fsanitize=fuzzer-no-link,address,undefined -fsanitize-trap=undefined \
	-std=c11 -Wall -Wextra -Werror
FUZZ_LIB_OBJS := $(patsubst %.c,$(FB)/%.o,$(foreach d,$(ENGINE_DIRS) cache,$(wildcard $(d)/*.c)) fs/fs_xattr.c fs/fs_ctl.c)
FUZZ_LIB := $(FB)/libp2pfs-fuzz.a
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=$(FB)/%)

$(FB)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  FUZZCC  $<"
	$(Q)$(CLANG) $(CPPFLAGS) $(FUZZ_CFLAGS) -c -o $@ $<

$(FUZZ_LIB): $(FUZZ_LIB_OBJS)
	@echo "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $^

$(FB)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LIB)
	@echo "  FUZZLD  $@"
	$(Q)$(CLANG) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB) $(LDLIBS)

fuzz-build: $(FUZZ_BINS)
fuzz-regress: $(FUZZ_BINS)
	@sh tests/fuzz/run.sh regress $(FUZZ_BINS)
fuzz: $(FUZZ_BINS)
	@sh tests/fuzz/run.sh fuzz $(FUZZ_SECONDS) $(FUZZ_BINS)
fuzz-long: $(FUZZ_BINS)
	@FUZZ_LONG_RUNS=$(FUZZ_LONG_RUNS) sh tests/fuzz/run.sh long $(FUZZ_LONG_SECONDS) $(FUZZ_BINS)

# The layering rules of engine/ and cache/ (which folder may include which,
# and no libevent or socket calls below io/).
check-layers:
	@bash tests/check-layers.sh

# The two integration suites run side by side (their ports never meet, see
# integration-asan): most of their time is waiting on timeouts and real
# clients, not CPU, and one after the other they take over 20 minutes on a
# 2-core machine. Each suite's output is printed whole when it ends.
check: all check-layers unit asan fuzz-regress
	@$(MAKE) --no-print-directory -j2 --output-sync=target integration integration-asan-run
	@echo "make check: all passed"

# The benchmark (never a test): p2pfs beside btfs and aria2c on loopback.
bench: p2pfs $(B)/bench/fuse_passthrough $(B)/bench/dht_bench
	@bash tests/bench/bench.sh

# the FUSE reference of the bench (a minimal read-only passthrough)
$(B)/bench/fuse_passthrough: tests/bench/fuse_passthrough.c
	@mkdir -p $(dir $@)
	@echo "  CCLD    $@"
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LDLIBS)

demo: p2pfs
	@bash tests/demo.sh

deps:
	@sh .ci/deps.sh

# `make install PREFIX=~/.local` (default /usr/local); DESTDIR for packagers.
install: p2pfs
	install -D -m 0755 p2pfs $(DESTDIR)$(PREFIX)/bin/p2pfs
	install -D -m 0644 man/p2pfs.1 $(DESTDIR)$(PREFIX)/share/man/man1/p2pfs.1
	install -D -m 0644 man/p2pfs-seal.5 $(DESTDIR)$(PREFIX)/share/man/man5/p2pfs-seal.5

# Removes exactly what install put there (the same PREFIX and DESTDIR).
uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/p2pfs $(DESTDIR)$(PREFIX)/share/man/man1/p2pfs.1

format:
	clang-format -i $(addsuffix /*.[ch],$(ENGINE_DIRS)) cache/*.[ch] fs/*.[ch] tests/unit/*.c tests/fuzz/*.c tests/tools/*.c

clean:
	rm -rf build build-asan build-fuzz p2pfs p2pfs-asan

-include $(shell find build build-asan build-fuzz -name '*.d' 2>/dev/null)
