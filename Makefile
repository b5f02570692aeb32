# swiftgate - a caching gateway in front of OpenStack Swift.
#
#   make              build ./swiftgate
#   make deps         install the Debian packages it needs (see docker/debian-packages.txt)
#   make test         deps, build, unit tests, end-to-end tests against a real Swift
#   make demo         a local Swift with fractal images and swiftgate in front of it
#   make test SANITIZE=address,undefined   the same suite under ASan+UBSan (clang)
#   make clean

CC        ?= cc
CFLAGS    ?= -O2 -g
PYTHON    := /usr/bin/python3
LLHTTP    := /usr/share/llhttp
WARN      := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
             -Wcast-qual -Wwrite-strings -Werror
PKGS      := libuv libcurl
DEFS      := -std=c11 -D_GNU_SOURCE -Igateway -Icache -I/usr/share/include/llhttp
LIBS      := -luv -lcurl -llmdb -ljansson -linih -lcrypto -lpthread

ifdef SANITIZE
CC        := clang
SANFLAGS  := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
BUILD     := build/sanitize
else
BUILD     := build/default
endif

GW_SRC    := $(wildcard gateway/*.c) $(wildcard cache/*.c)
GW_OBJ    := $(GW_SRC:%.c=$(BUILD)/%.o)
LIB_OBJ   := $(filter-out $(BUILD)/gateway/main.o,$(GW_OBJ))
LL_OBJ    := $(BUILD)/llhttp/llhttp.o $(BUILD)/llhttp/api.o $(BUILD)/llhttp/http.o
UNIT_SRC  := $(wildcard tests/unit/test_*.c)
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
BIN       := $(BUILD)/swiftgate

.PHONY: all deps test unit e2e demo clean
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

# llhttp is Debian's (node-llhttp), compiled as it is, without our warnings.
$(BUILD)/llhttp/%.o: $(LLHTTP)/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SANFLAGS) -I/usr/share/include/llhttp -w -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(LIB_OBJ) $(LL_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(DEFS) $(CFLAGS) $(SANFLAGS) $(WARN) $$(pkg-config --cflags check) -o $@ $^ \
	    $(LIBS) $$(pkg-config --libs check)

deps:
	docker/deps.sh build test $(if $(SANITIZE),sanitize)

unit: $(UNIT_BIN)
e2e: $(BIN)

# Every test, then one line "N passed, N failed".
test: deps
	$(MAKE) --no-print-directory $(BIN) unit
	tests/run.sh $(BUILD)

demo: deps
	$(MAKE) --no-print-directory $(BIN)
	$(PYTHON) tests/demo.py --bin $(BIN)

clean:
	rm -rf build swiftgate
