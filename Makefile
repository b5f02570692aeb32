# swiftgate - a caching gateway in front of OpenStack Swift.
#
#   make              build ./swiftgate
#   make deps         install the Debian packages it needs (see docker/debian-packages.txt)
#   make test         deps, build, unit tests, end-to-end tests against a real Swift
#   make demo         a local Swift with fractal images, two gateways behind HAProxy, Prometheus
#   make test SANITIZE=address,undefined   the same suite under ASan+UBSan (clang)
#   make fuzz [FUZZ_TIME=60] [FUZZ_RUNS=N] [FUZZ_TARGETS=...]  every libFuzzer target in turn
#   make bench [BENCH_QUICK=1] [BENCH_DURATION=10s]  swiftgate vs nginx and Varnish
#   make install [PREFIX=/usr/local] [DESTDIR=]   binary, man page, config, unit, ...
#   make uninstall [PREFIX=/usr/local] [DESTDIR=]
#   make soak-crash [CRASH_ROUNDS=20]  SIGKILL under load, restart, fsck, verify; N rounds
#   make soak [SOAK_MINUTES=10] [SANITIZE=address,undefined]  load, slowloris, mixed soak
#   make clean

CC        ?= cc
CFLAGS    ?= -O2 -g
PYTHON    := /usr/bin/python3
LLHTTP    := /usr/share/llhttp
WARN      := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
             -Wcast-qual -Wwrite-strings -Werror
STD       := -std=c11 -D_GNU_SOURCE
DEFS      := $(STD) -Igateway -Icache -I/usr/share/include/llhttp
# cache/ is compiled seeing only its own headers, so that it cannot come to
# depend on gateway/; gateway/ and the tests see both.
CACHE_DEFS := $(STD) -Icache
LIBS      := -luv -lcurl -llmdb -ljansson -linih -lcrypto -lpthread

ifdef SANITIZE
CC        := clang
SANFLAGS  := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
BUILD     := build/sanitize
else
BUILD     := build/default
endif

# The commit built, for swiftgate_build_info: the short hash of HEAD when
# this directory is the top of a git checkout, else "unknown" (a tarball);
# `make GW_COMMIT=...` sets it.  Only stats_read.o sees it, and it is
# rebuilt only when the commit changes (the stamp below keeps its date
# otherwise), so two builds of one commit are the same.
ifndef GW_COMMIT
GW_COMMIT := $(shell [ "$$(git rev-parse --show-toplevel 2>/dev/null)" = "$$(pwd -P)" ] && \
                     git rev-parse --short HEAD 2>/dev/null || echo unknown)
endif

GW_SRC    := $(wildcard gateway/*.c) $(wildcard cache/*.c)
GW_OBJ    := $(GW_SRC:%.c=$(BUILD)/%.o)
LIB_OBJ   := $(filter-out $(BUILD)/gateway/main.o,$(GW_OBJ))
LL_OBJ    := $(BUILD)/llhttp/llhttp.o $(BUILD)/llhttp/api.o $(BUILD)/llhttp/http.o
UNIT_SRC  := $(wildcard tests/unit/test_*.c)
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
BIN       := $(BUILD)/swiftgate

.PHONY: all deps test unit e2e demo clean bench install uninstall soak-crash
all: swiftgate

swiftgate: $(BIN)
ifndef SANITIZE
	cp $(BIN) $@
endif

$(BIN): $(GW_OBJ) $(LL_OBJ)
	$(CC) $(CFLAGS) $(SANFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/%.o: %.c $(wildcard gateway/*.h cache/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(DEFS) $(CFLAGS) $(SANFLAGS) $(WARN) -c -o $@ $<

$(BUILD)/cache/%.o: cache/%.c $(wildcard cache/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CACHE_DEFS) $(CFLAGS) $(SANFLAGS) $(WARN) -c -o $@ $<

$(BUILD)/gateway/stats_read.o: DEFS += -DGW_COMMIT='"$(GW_COMMIT)"'
$(BUILD)/gateway/stats_read.o: $(BUILD)/commit
# Rewritten only when the commit differs from the one it names.
$(BUILD)/commit: FORCE
	@mkdir -p $(dir $@)
	@[ "$$(cat $@ 2>/dev/null)" = "$(GW_COMMIT)" ] || echo "$(GW_COMMIT)" > $@
.PHONY: FORCE

# llhttp is Debian's (node-llhttp), compiled as it is, without our warnings.
$(BUILD)/llhttp/%.o: $(LLHTTP)/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SANFLAGS) -I/usr/share/include/llhttp -w -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(LIB_OBJ) $(LL_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(DEFS) $(CFLAGS) $(SANFLAGS) $(WARN) $$(pkg-config --cflags check) -o $@ \
	    $(filter %.c %.o,$^) $(LIBS) $$(pkg-config --libs check)

deps:
	docker/deps.sh build test $(if $(SANITIZE),sanitize)

# A test program whose source is gone (renamed) would still be run by
# tests/run.sh: remove it.
unit: $(UNIT_BIN)
	@for t in $(BUILD)/tests/test_*; do \
	    [ ! -e "$$t" ] || [ -f tests/unit/$$(basename $$t).c ] || rm -f "$$t"; done
e2e: $(BIN)

# Every test, then one line "N passed, N failed".
test: deps
	$(MAKE) --no-print-directory $(BIN) unit
	tests/run.sh $(BUILD)

# The crash loop of tests/e2e/test_crashloop.py (5 rounds in `make test`),
# CRASH_ROUNDS times; the soak runs it with its own count.
CRASH_ROUNDS ?= 20
soak-crash: deps
	$(MAKE) --no-print-directory $(BIN)
	SWIFTGATE_CRASH_ROUNDS=$(CRASH_ROUNDS) $(PYTHON) tests/e2e/run.py --bin $(BIN) \
	    -k '^test_crashloop\.' --timeout 1200

demo: deps
	$(MAKE) --no-print-directory $(BIN)
	$(PYTHON) tests/demo.py --bin $(BIN)

# ---- fuzzing: clang's libFuzzer with ASan and UBSan, one target per parser ----
# tests/fuzz/fuzz_<target>.c for each of FUZZ_TARGETS; entry.c makes each a
# fuzzer.  Their seed corpora (tests/fuzz/<target>/) are also replayed by
# `make test`: the unit test test_fuzz is linked with every target (the
# rule below adds them).  `make fuzz` runs each target for FUZZ_TIME
# seconds (or FUZZ_RUNS inputs), one after the other, one process each;
# new inputs go to build/fuzz/corpus/<target>, the repository's seeds are
# only read.
FUZZ_TIME    ?= 60
FUZZ_TARGETS ?= http cond slo dlo plan conf proxy
FUZZ_BUILD   := build/fuzz
FUZZ_FLAGS   := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer \
                -fno-sanitize-recover=all
FUZZ_OBJ     := $(filter-out $(FUZZ_BUILD)/gateway/main.o,$(GW_SRC:%.c=$(FUZZ_BUILD)/%.o)) \
                $(FUZZ_BUILD)/llhttp/llhttp.o $(FUZZ_BUILD)/llhttp/api.o $(FUZZ_BUILD)/llhttp/http.o
FUZZ_SRC     := $(wildcard tests/fuzz/fuzz_*.c) tests/fuzz/plancheck.c
FUZZ_HDR     := $(wildcard tests/fuzz/*.h gateway/*.h cache/*.h)

$(BUILD)/tests/test_fuzz: $(FUZZ_SRC) $(FUZZ_HDR)

$(FUZZ_BUILD)/%.o: %.c $(wildcard gateway/*.h cache/*.h)
	@mkdir -p $(dir $@)
	clang $(DEFS) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link $(WARN) -c -o $@ $<

$(FUZZ_BUILD)/cache/%.o: cache/%.c $(wildcard cache/*.h)
	@mkdir -p $(dir $@)
	clang $(CACHE_DEFS) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link $(WARN) -c -o $@ $<

$(FUZZ_BUILD)/llhttp/%.o: $(LLHTTP)/%.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link -I/usr/share/include/llhttp -w -c -o $@ $<

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/entry.c tests/fuzz/fuzz_%.c tests/fuzz/plancheck.c \
                      $(FUZZ_OBJ) $(FUZZ_HDR)
	clang $(DEFS) -DFUZZ_VERDICT=fuzz_$*_verdict $(FUZZ_FLAGS) -fsanitize=fuzzer $(WARN) \
	    -o $@ $(filter %.c %.o,$^) $(LIBS)

.PHONY: fuzz
fuzz:
	docker/deps.sh build fuzz
	$(MAKE) --no-print-directory $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)
	@set -e; for t in $(FUZZ_TARGETS); do \
	    echo "== fuzz $$t"; mkdir -p $(FUZZ_BUILD)/corpus/$$t; \
	    $(FUZZ_BUILD)/fuzz_$$t -max_total_time=$(FUZZ_TIME) $(if $(FUZZ_RUNS),-runs=$(FUZZ_RUNS)) \
	        -max_len=8192 -timeout=10 -print_final_stats=1 \
	        $(FUZZ_BUILD)/corpus/$$t tests/fuzz/$$t; \
	done

# ---- benchmarks: swiftgate beside nginx proxy_cache and Varnish ----
# Not part of `make test`.  Installs nginx, varnish, wrk, gnuplot-nox and strace if
# missing; writes tests/bench/results/latest.{md,json,png}.  About 17 min;
# BENCH_QUICK=1 is a smoke run of about 3 min.  BENCH_DURATION sets the
# length of each wrk run (default 10s, quick 2s).
BENCH_QUICK    ?=
BENCH_DURATION ?=
bench:
	docker/deps.sh build test bench
	$(MAKE) --no-print-directory swiftgate
	BENCH_QUICK=$(BENCH_QUICK) BENCH_DURATION=$(BENCH_DURATION) \
	    $(PYTHON) tests/bench/bench.py --bin ./swiftgate

# ---- install: the binary, its man page, an example config, the systemd
# unit, a logrotate file and the HAProxy example, under DESTDIR.  The unit
# names /usr/local in its paths; installed, they name PREFIX.  An existing
# config is kept (the operator's); uninstall removes it only if unchanged.
# logrotate reads only /etc/logrotate.d, whatever PREFIX is.
PREFIX       ?= /usr/local
DESTDIR      ?=
BINDIR       ?= $(PREFIX)/bin
MANDIR       ?= $(PREFIX)/share/man
SYSCONFDIR   ?= $(PREFIX)/etc
UNITDIR      ?= $(PREFIX)/lib/systemd/system
DOCDIR       ?= $(PREFIX)/share/doc/swiftgate
LOGROTATEDIR ?= /etc/logrotate.d
INSTALL_BIN  ?= $(BIN)
HAPROXY_EXAMPLE ?= conf/haproxy.cfg

install: $(INSTALL_BIN)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(SYSCONFDIR)/swiftgate \
	    $(DESTDIR)$(UNITDIR) $(DESTDIR)$(DOCDIR) $(DESTDIR)$(LOGROTATEDIR)
	install -m 0755 $(INSTALL_BIN) $(DESTDIR)$(BINDIR)/swiftgate
	install -m 0644 conf/swiftgate.1 $(DESTDIR)$(MANDIR)/man1/swiftgate.1
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/swiftgate/swiftgate.conf ]; then \
	    echo "kept $(DESTDIR)$(SYSCONFDIR)/swiftgate/swiftgate.conf"; \
	else install -m 0644 conf/swiftgate.conf $(DESTDIR)$(SYSCONFDIR)/swiftgate/swiftgate.conf; fi
	sed -e 's|/usr/local/bin/|$(BINDIR)/|g' -e 's|/usr/local/etc/|$(SYSCONFDIR)/|g' \
	    conf/swiftgate.service > $(DESTDIR)$(UNITDIR)/swiftgate.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/swiftgate.service
	install -m 0644 conf/swiftgate.logrotate $(DESTDIR)$(LOGROTATEDIR)/swiftgate
	install -m 0644 $(HAPROXY_EXAMPLE) $(DESTDIR)$(DOCDIR)/haproxy.cfg

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/swiftgate $(DESTDIR)$(MANDIR)/man1/swiftgate.1 \
	    $(DESTDIR)$(UNITDIR)/swiftgate.service $(DESTDIR)$(LOGROTATEDIR)/swiftgate \
	    $(DESTDIR)$(DOCDIR)/haproxy.cfg
	-rmdir $(DESTDIR)$(DOCDIR) 2>/dev/null
	@if cmp -s conf/swiftgate.conf $(DESTDIR)$(SYSCONFDIR)/swiftgate/swiftgate.conf; then \
	    rm -f $(DESTDIR)$(SYSCONFDIR)/swiftgate/swiftgate.conf; \
	    rmdir $(DESTDIR)$(SYSCONFDIR)/swiftgate 2>/dev/null || true; \
	elif [ -e $(DESTDIR)$(SYSCONFDIR)/swiftgate/swiftgate.conf ]; then \
	    echo "kept $(DESTDIR)$(SYSCONFDIR)/swiftgate/swiftgate.conf (changed)"; fi
# ---- soak: not part of `make test` ----
# 5,000 keep-alive connections, 1,000 slowloris connections while normal
# clients are served, SOAK_MINUTES of mixed load with a restart half way
# (a table row a minute, the RSS slope), then the end-to-end tests matching
# SOAK_CRASH_TESTS with SWIFTGATE_CRASH_ROUNDS=SOAK_CRASH_ROUNDS.  Under
# SANITIZE the mixed soak is 3 minutes and RSS flatness is not judged (ASan's
# quarantine grows by design); any sanitizer report fails it.  The report
# is also written to $(BUILD)/soak.md.
ifdef SANITIZE
SOAK_MINUTES      ?= 3
else
SOAK_MINUTES      ?= 10
endif
SOAK_CONNS        ?= 5000
SOAK_SLOWLORIS    ?= 1000
SOAK_CRASH_TESTS  ?= crash
SOAK_CRASH_ROUNDS ?= 20
.PHONY: soak
soak: deps
	$(MAKE) --no-print-directory $(BIN)
	$(PYTHON) tests/soak/run.py --bin $(BIN) --minutes $(SOAK_MINUTES) \
	    --conns $(SOAK_CONNS) --slowloris $(SOAK_SLOWLORIS) \
	    --crash-pattern '$(SOAK_CRASH_TESTS)' --crash-rounds $(SOAK_CRASH_ROUNDS) \
	    $(if $(SANITIZE),--sanitize) --report $(BUILD)/soak.md

clean:
	rm -rf build swiftgate
