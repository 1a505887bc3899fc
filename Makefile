# close: a Lua module with a C core. `make test` is what CI runs.
#
#   make            build close/core.so for LUA_VERSION (default 5.4)
#   make test       everything below, on a fresh Debian machine
#   make demo       the main job against the local Close-compatible server
#
LUA_VERSION ?= 5.4
LUA         ?= lua$(LUA_VERSION)
LUA_INC     ?= /usr/include/lua$(LUA_VERSION)
BUILD       := build/$(LUA_VERSION)
CORE        := $(BUILD)/close/core.so

# close.core as OpenResty loads it: built against the LuaJIT (5.1 API) headers
LUAJIT_INC ?= /usr/include/luajit-2.1
CORE_JIT   := build/5.1/close/core.so

SRC      := $(wildcard src/*.c)
HDR      := $(wildcard src/*.h)
PURE_SRC := src/validate.c src/request.c src/response.c src/retry.c

CC      ?= cc
CFLAGS  ?= -O2 -g
WARN    := -std=c99 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wpointer-arith -pedantic
DEFS    := -D_POSIX_C_SOURCE=200809L
SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

LUA_ENV = LUA_PATH="lua/?.lua;lua/?/init.lua;;" LUA_CPATH="$(1)/?.so;;"
BUSTED  = $(LUA) /usr/bin/busted

VERSIONS := 5.1 5.2 5.3 5.4

.PHONY: bench all deps test lint check-c spec spec-integration spec-openresty versions conformance asan valgrind rock rocks demo docs clean

all: $(CORE)

deps:
	@scripts/deps.sh

$(CORE): $(SRC) $(HDR) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(DEFS) $(CFLAGS) -fPIC -I$(LUA_INC) -shared -o $@ $(SRC) -lcurl

# C unit tests of the pure parts, with no Lua at all
build/test_pure: test/c/test_pure.c $(PURE_SRC) $(HDR)
	@mkdir -p build
	$(CC) $(WARN) $(DEFS) -O1 -g $(SAN) -Isrc -o $@ test/c/test_pure.c $(PURE_SRC)

check-c: build/test_pure
	build/test_pure

lint:
	luacheck -q lua spec test examples bench

spec: $(CORE)
	$(call LUA_ENV,$(BUILD)) $(BUSTED) spec/unit

# The scripted server of the broken-HTTP specs and the transport fuzzer
build/replay_server: test/replay/main.c test/replay/replay.c test/replay/replay.h
	@mkdir -p build
	$(CC) $(WARN) $(DEFS) -O1 -g -o $@ test/replay/main.c test/replay/replay.c -lpthread

# Integration specs: real libcurl against the local server (test/server),
# started and stopped here, and against the replay server.
spec-integration: $(CORE) build/replay_server
	scripts/with-server.sh env $(call LUA_ENV,$(BUILD)) $(BUSTED) spec/integration

# close.core for the nginx of spec-openresty (LUA_VERSION=5.1 builds the same
# path with the 5.1 headers, which LuaJIT loads as well)
ifneq ($(LUA_VERSION),5.1)
$(CORE_JIT): $(SRC) $(HDR) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(DEFS) $(CFLAGS) -fPIC -I$(LUAJIT_INC) -shared -o $@ $(SRC) -lcurl
endif

# OpenResty: an app nginx (test/openresty) runs close with the cosocket
# transport against the local server; the specs drive it over loopback.
spec-openresty: $(CORE) $(CORE_JIT)
	scripts/with-openresty.sh env $(call LUA_ENV,$(BUILD)) $(BUSTED) spec/openresty

# The unit and integration specs on every Lua version, and on LuaJIT with
# the module built against the 5.1 headers (as OpenResty loads it).
versions:
	@for v in $(VERSIONS); do $(MAKE) --no-print-directory LUA_VERSION=$$v spec spec-integration || exit 1; done
	$(MAKE) --no-print-directory LUA_VERSION=5.1 LUA=luajit spec spec-integration

# Every request variant the client can send goes once to Prism serving the
# OpenAPI documents; a violation fails the run.
conformance: $(CORE)
	scripts/conformance.sh $(LUA) $(BUILD)

# The same specs with the C core built under ASan + UBSan.
build/asan/close/core.so: $(SRC) $(HDR)
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(DEFS) -O1 -g $(SAN) -fPIC -I$(LUA_INC) -shared -o $@ $(SRC) -lcurl

asan: build/asan/close/core.so build/replay_server
	scripts/with-server.sh env $(call LUA_ENV,build/asan) \
	  LD_PRELOAD="$$($(CC) -print-file-name=libasan.so) $$($(CC) -print-file-name=libubsan.so)" \
	  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  LSAN_OPTIONS=suppressions=test/lsan.supp \
	  $(BUSTED) spec/unit spec/integration

# The specs under valgrind: no invalid access, no definite leak.
valgrind: $(CORE) build/replay_server
	scripts/with-server.sh env $(call LUA_ENV,$(BUILD)) \
	  valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
	  $(BUSTED) spec/unit spec/integration

# The rockspec builds and installs into a fresh tree, and the installed module loads.
rock:
	scripts/check-rock.sh $(LUA_VERSION)

rocks:
	@for v in $(VERSIONS); do scripts/check-rock.sh $$v || exit 1; done

test: deps lint docs check-c versions spec-openresty conformance asan valgrind rocks
	@echo "make test: all checks passed"

demo: deps $(CORE)
	scripts/with-server.sh env $(call LUA_ENV,$(BUILD)) $(LUA) examples/demo.lua

# API docs from the sources; an LDoc warning (undocumented or malformed) fails
# Benchmarks: ratios against baselines measured in the same run
bench: $(CORE)
	scripts/with-server.sh env $(call LUA_ENV,$(BUILD)) $(LUA) bench/run.lua

docs:
	@out=$$(ldoc . 2>&1); echo "$$out" | grep -v "^format:\|^reading\|^output" || true; \
	  ! echo "$$out" | grep -q ":[0-9]*: "

clean:
	rm -rf build doc
