# standby - the secondary-host half of Xen Remus/COLO high availability.
#
#   make            build ./standby (installs missing Debian packages first)
#   make test       every test, then all of them again under ASan+UBSan, then the fuzzer briefly
#   make demo       simulated primary -> standby serve (image target) -> failover -> verify
#   make bench      benchmarks (docs/benchmarks.md)
#   make fuzz       FUZZ_SECONDS=N (default 600) of libFuzzer on the stream parser
#   make install    PREFIX=/usr/local DESTDIR=
#   make clean

PREFIX     ?= /usr/local
DESTDIR    ?=
CC         ?= cc
PKGS       := xencontrol xenguest xenstore xentoollog libnl-3.0 libnl-route-3.0 yajl libcrypto libxxhash
DEB_PKGS   := build-essential pkg-config libxen-dev libnl-3-dev libnl-route-3-dev \
              libev-dev libyajl-dev libssl-dev libxxhash-dev libcmocka-dev clang libclang-rt-14-dev xz-utils
FUZZ_SECONDS ?= 600
FUZZ_TEST_SECONDS ?= 60

B          := build
CFLAGS_STD := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g -Iinclude -Isrc
PKG_CFLAGS  = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS    = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lev -lm
CFLAGS     ?= -O2
ALL_CFLAGS  = $(CFLAGS_STD) $(CFLAGS) $(PKG_CFLAGS)
SAN_FLAGS  := -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

LIB_SRCS   := $(sort $(shell find src net -name '*.c' ! -name main.c 2>/dev/null))
MAIN_SRC   := src/main.c
HDRS       := $(shell find include src net -name '*.h' 2>/dev/null)
UNIT_SRCS  := $(sort $(wildcard tests/unit/test_*.c))
UNIT_HELPERS := $(filter-out $(UNIT_SRCS),$(wildcard tests/unit/*.c))
UNIT_NAMES := $(patsubst tests/unit/%.c,%,$(UNIT_SRCS))

LIB_OBJS   := $(patsubst %.c,$(B)/obj/%.o,$(LIB_SRCS))
ASAN_OBJS  := $(patsubst %.c,$(B)/asan/%.o,$(LIB_SRCS))

.PHONY: all deps test test-unit test-integration test-asan test-fuzz test-vm demo bench fuzz install clean \
	print-pkg-cflags print-pkg-libs

all: deps standby

# ---- dependencies: install whatever Debian packages are missing ----
deps: $(B)/.deps-ok
$(B)/.deps-ok: Makefile
	@mkdir -p $(B)
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "make deps: need root to install:$$missing" >&2; exit 1; fi; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -q $$missing >$(B)/apt.log 2>&1 || \
	  { apt-get update -q >>$(B)/apt.log 2>&1 && apt-get install -y -q $$missing >>$(B)/apt.log 2>&1; } || \
	  { tail -20 $(B)/apt.log >&2; exit 1; }; \
	fi
	@touch $@

# ---- the binary ----
standby: $(LIB_OBJS) $(B)/obj/src/main.o
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(PKG_LIBS)

$(B)/obj/%.o: %.c $(HDRS) | $(B)/.deps-ok
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(B)/asan/%.o: %.c $(HDRS) | $(B)/.deps-ok
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_STD) $(SAN_FLAGS) $(PKG_CFLAGS) -c -o $@ $<

$(B)/asan/standby: $(ASAN_OBJS) $(B)/asan/src/main.o
	$(CC) $(CFLAGS_STD) $(SAN_FLAGS) -o $@ $^ $(PKG_LIBS)

# ---- unit tests (cmocka), plain and sanitized ----
$(B)/unit/%: tests/unit/%.c $(UNIT_HELPERS) $(LIB_OBJS) $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/unit -o $@ $< $(UNIT_HELPERS) $(LIB_OBJS) $(PKG_LIBS) -lcmocka

$(B)/asan-unit/%: tests/unit/%.c $(UNIT_HELPERS) $(ASAN_OBJS) $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_STD) $(SAN_FLAGS) $(PKG_CFLAGS) -Itests/unit -o $@ $< $(UNIT_HELPERS) $(ASAN_OBJS) $(PKG_LIBS) -lcmocka

# ---- fuzzer (clang libFuzzer) ----
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
$(B)/fuzz/%: tests/fuzz/%.c $(LIB_SRCS) $(HDRS) | $(B)/.deps-ok
	@mkdir -p $(dir $@)
	clang $(CFLAGS_STD) -O1 -fsanitize=fuzzer,address,undefined $(PKG_CFLAGS) -o $@ $< $(LIB_SRCS) $(PKG_LIBS)

test: deps standby
	@tests/run-all.sh

test-unit: deps standby $(addprefix $(B)/unit/,$(UNIT_NAMES))
test-asan: deps $(B)/asan/standby $(addprefix $(B)/asan-unit/,$(UNIT_NAMES))
test-fuzz: deps $(patsubst tests/fuzz/%.c,$(B)/fuzz/%,$(FUZZ_SRCS))

fuzz: test-fuzz
	@for f in $(patsubst tests/fuzz/%.c,$(B)/fuzz/%,$(FUZZ_SRCS)); do \
	  n=$$(basename $$f); mkdir -p $(B)/fuzz-corpus/$$n; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -max_len=65536 $(B)/fuzz-corpus/$$n tests/corpus/$$n || exit 1; \
	done

demo: deps standby
	@tests/demo.sh

bench: deps standby
	@tests/bench/run.sh

# the flags of the chosen libraries, for harnesses that link their own tools
# against the objects (tests/xen/run.sh)
print-pkg-cflags:
	@echo $(PKG_CFLAGS)
print-pkg-libs:
	@echo $(PKG_LIBS)

install: standby
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 standby $(DESTDIR)$(PREFIX)/bin/standby

clean:
	rm -rf $(B) standby
