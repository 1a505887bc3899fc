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
PURE_SRC := src/validate.c src/request.c src/response.c src/retry.c src/wire.c src/rand.c src/sha256.c src/scim_filter.c src/interpret.c src/buf.c src/resp.c

CC      ?= cc
CFLAGS  ?= -O2 -g
WARN    := -std=c99 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wpointer-arith -pedantic
DEFS    := -D_POSIX_C_SOURCE=200809L
SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

LUA_ENV = LUA_PATH="lua/?.lua;lua/?/init.lua;;" LUA_CPATH="$(1)/?.so;;"
BUSTED  = $(LUA) /usr/bin/busted
# every check runs through step.sh, which records its counts for the summary line
STEP    = scripts/step.sh
SPEC_STEP ?= specs-$(LUA_VERSION)

VERSIONS := 5.1 5.2 5.3 5.4

.PHONY: bench all deps test lint check-c spec spec-integration spec-openresty spec-nodes versions conformance asan valgrind rock rocks demo docs clean fuzz fuzz-build portable

all: $(CORE)

deps:
	@scripts/deps.sh

$(CORE): $(SRC) $(HDR) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(DEFS) $(CFLAGS) -fPIC -I$(LUA_INC) -shared -o $@ $(SRC) -lcurl -lsqlite3

# C unit tests of the pure parts, with no Lua at all
build/test_pure: test/c/test_pure.c $(PURE_SRC) $(HDR) test/c/check.h
	@mkdir -p build
	$(CC) $(WARN) $(DEFS) -O1 -g $(SAN) -Isrc -o $@ test/c/test_pure.c $(PURE_SRC)

build/test_scim_filter: test/c/test_scim_filter.c src/scim_filter.c src/scim_filter.h test/c/check.h
	@mkdir -p build
	$(CC) $(WARN) $(DEFS) -O1 -g $(SAN) -Isrc -o $@ test/c/test_scim_filter.c src/scim_filter.c

build/test_resp: test/c/test_resp.c src/resp.c src/resp.h test/c/check.h
	@mkdir -p build
	$(CC) $(WARN) $(DEFS) -O1 -g $(SAN) -Isrc -o $@ test/c/test_resp.c src/resp.c

check-c: build/test_pure build/test_scim_filter build/test_resp
	$(STEP) c-tests build/test_pure
	$(STEP) c-tests build/test_scim_filter
	$(STEP) c-tests build/test_resp

lint:
	luacheck -q lua spec test examples bench bin

spec: $(CORE)
	$(STEP) $(SPEC_STEP) env $(call LUA_ENV,$(BUILD)) $(BUSTED) spec/unit

# The scripted server of the broken-HTTP specs and the transport fuzzer
build/replay_server: test/replay/main.c test/replay/replay.c test/replay/replay.h
	@mkdir -p build
	$(CC) $(WARN) $(DEFS) -O1 -g -o $@ test/replay/main.c test/replay/replay.c -lpthread

# Integration specs: real libcurl against the local server (test/server),
# started and stopped here, and against the replay server.
spec-integration: $(CORE) $(CORE_JIT) build/replay_server
	$(STEP) $(SPEC_STEP) scripts/with-server.sh env $(call LUA_ENV,$(BUILD)) $(BUSTED) spec/integration

# close.core for the nginx of spec-openresty (LUA_VERSION=5.1 builds the same
# path with the 5.1 headers, which LuaJIT loads as well)
ifneq ($(LUA_VERSION),5.1)
$(CORE_JIT): $(SRC) $(HDR) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(DEFS) $(CFLAGS) -fPIC -I$(LUAJIT_INC) -shared -o $@ $(SRC) -lcurl -lsqlite3
endif

# OpenResty: an app nginx (test/openresty) runs close with the cosocket
# transport against the local server; the specs drive it over loopback.
spec-openresty: $(CORE) $(CORE_JIT)
	$(STEP) openresty scripts/with-openresty.sh env $(call LUA_ENV,$(BUILD)) $(BUSTED) spec/openresty

# Two close-scim nodes on Debian's redis-server: shared state and the faults
spec-nodes: $(CORE) $(CORE_JIT)
	$(STEP) nodes scripts/with-server.sh env $(call LUA_ENV,$(BUILD)) $(BUSTED) spec/nodes

# The unit and integration specs on every Lua version, and on LuaJIT with
# the module built against the 5.1 headers (as OpenResty loads it).
# Every build first: a spec may run one runtime's launcher against another's build.
versions:
	@for v in $(VERSIONS); do $(MAKE) --no-print-directory LUA_VERSION=$$v all || exit 1; done
	@for v in $(VERSIONS); do $(MAKE) --no-print-directory LUA_VERSION=$$v spec spec-integration || exit 1; done
	$(MAKE) --no-print-directory LUA_VERSION=5.1 LUA=luajit SPEC_STEP=specs-luajit spec spec-integration

# Every request variant the client can send goes once to Prism serving the
# OpenAPI documents; a violation fails the run.
conformance: $(CORE)
	$(STEP) prism scripts/conformance.sh $(LUA) $(BUILD)

# The same specs with the C core built under ASan + UBSan.
build/asan/close/core.so: $(SRC) $(HDR)
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(DEFS) -O1 -g $(SAN) -fPIC -I$(LUA_INC) -shared -o $@ $(SRC) -lcurl -lsqlite3

asan: build/asan/close/core.so build/replay_server
	$(STEP) asan-ubsan scripts/with-server.sh env $(call LUA_ENV,build/asan) \
	  LD_PRELOAD="$$($(CC) -print-file-name=libasan.so) $$($(CC) -print-file-name=libubsan.so)" \
	  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  LSAN_OPTIONS=suppressions=$(CURDIR)/test/lsan.supp \
	  $(BUSTED) spec/unit spec/integration

# The specs under valgrind: no invalid access, no definite leak.
valgrind: $(CORE) build/replay_server
	$(STEP) valgrind scripts/with-server.sh env $(call LUA_ENV,$(BUILD)) \
	  valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
	  $(BUSTED) spec/unit spec/integration

# The rockspec builds and installs into a fresh tree, and the installed module loads.
rock:
	$(STEP) rocks scripts/check-rock.sh $(LUA_VERSION)

rocks:
	@for v in $(VERSIONS); do $(STEP) rocks scripts/check-rock.sh $$v || exit 1; done

# libFuzzer targets (fuzz/fuzz_<name>.c), one per pure C parser and one for
# the libcurl transport against scripted responses over loopback.
FUZZ_CC      ?= clang
FUZZ_FLAGS   := -std=c99 -Wall -Wextra -Werror -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZ_PURE    := email role_id base_url urlencode auth_header ratelimit retry_after number wire retry scim_filter scim_path resp
FUZZ_BINS    := $(addprefix build/fuzz/bin/,$(FUZZ_PURE) transport)
FUZZ_SECONDS ?= 60

build/fuzz/bin/%: fuzz/fuzz_%.c fuzz/fuzz.h $(PURE_SRC) $(HDR)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) $(DEFS) -Isrc -o $@ $< $(PURE_SRC)

build/fuzz/bin/transport: fuzz/fuzz_transport.c src/http_curl.c src/wire.c src/buf.c test/replay/replay.c $(HDR) test/replay/replay.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) $(DEFS) -Isrc -o $@ $< src/http_curl.c src/wire.c src/buf.c test/replay/replay.c -lcurl -lpthread

fuzz-build: $(FUZZ_BINS)

# every target for FUZZ_SECONDS (make test: a few seconds each)
fuzz: $(FUZZ_BINS)
	$(STEP) fuzz scripts/fuzz.sh $(FUZZ_SECONDS)

# Nothing tracked points outside the repository or names a build machine's paths.
portable:
	@scripts/check-portable.sh

test: deps
	@rm -rf build/summary
	@$(MAKE) --no-print-directory portable lint docs check-c versions spec-openresty spec-nodes conformance asan valgrind rocks
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=$${FUZZ_TEST_SECONDS:-4}
	@scripts/summary.sh

# the local server without Close credentials; MEMBERS=file.csv into Close with them
demo: deps $(CORE)
	@LUA=$(LUA) scripts/demo.sh

# Benchmarks: ratios against baselines measured in the same run (bench/run.lua)
build/bare_curl: bench/bare_curl.c
	@mkdir -p build
	$(CC) $(WARN) $(DEFS) -O2 -o $@ $< -lcurl

bench: $(CORE) $(CORE_JIT) build/bare_curl
	bench/run.sh env $(call LUA_ENV,$(BUILD)) $(LUA) bench/run.lua
	bench/run.sh env BENCH_COST_ONLY=1 $(call LUA_ENV,build/5.1) luajit bench/run.lua
	scripts/with-server.sh env $(call LUA_ENV,$(BUILD)) $(LUA) bench/scim.lua
	scripts/with-server.sh env $(call LUA_ENV,$(BUILD)) $(LUA) bench/scim_nodes.lua

# API docs from the sources; an LDoc warning (undocumented or malformed) fails.
# LDoc runs on Lua 5.1, where Debian's lua-markdown lives, so that the
# docs' markdown is rendered (elsewhere LDoc falls back to plain text).
LDOC := lua5.1 /usr/bin/ldoc
docs:
	@out=$$($(LDOC) . 2>&1); echo "$$out" | grep -v "^format:\|^reading\|^output" || true; \
	  if echo "$$out" | grep -q ":[0-9]*: "; then echo "docs: LDoc warnings above"; exit 1; fi; \
	  if echo "$$out" | grep -q "falling back to text"; then echo "docs: markdown is not rendered (apt-get install lua-markdown)"; exit 1; fi; \
	  if grep -l '`' build/doc/index.html build/doc/modules/*.html; then echo "docs: literal backticks in the HTML above"; exit 1; fi; \
	  echo "docs: build/doc/index.html, markdown rendered, no warning"

clean:
	rm -rf build doc
