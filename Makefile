# edgectl - one non-recursive Makefile. Objects go to $(O) (out of tree).
#   make            build build/edgectl
#   make check      install test dependencies, build, run every test
#   make demo       install dependencies, build, run the north-star flow
#   make bench      benchmarks against peers (tests/bench)
#   make DEVELOPER=1          adds -Werror
#   make SANITIZE=address,undefined check
#   make check-sanitize   the sanitizer lane of CI (ASan+UBSan, O=build-asan)
O ?= build
PREFIX ?= /usr/local
DESTDIR ?=
BINDIR = $(PREFIX)/bin
MANDIR = $(PREFIX)/share/man
CC ?= cc
CLANG ?= clang
LLVM_STRIP ?= llvm-strip
BPFTOOL ?= bpftool
PKG_CONFIG ?= pkg-config
# yaml-0.1 (libyaml): CDI specs may be YAML (src/util/yaml.c)
PKGS = libzstd libcurl libarchive openssl jansson libbpf zlib yaml-0.1

VERSION := $(shell git describe --always --dirty 2>/dev/null || echo 0.1)

PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)

WARN = -Wall -Wextra -Wshadow -Wformat=2 -Wmissing-prototypes \
       -Wstrict-prototypes -Wvla -Wno-missing-field-initializers
CFLAGS ?= -O2 -g
ALL_CFLAGS = -std=gnu11 $(WARN) $(CFLAGS) -D_GNU_SOURCE -pthread \
	     -Isrc -DEDGECTL_VERSION='"$(VERSION)"' $(PKG_CFLAGS) -MMD -MP
ALL_LDFLAGS = $(LDFLAGS) -pthread
LIBS = $(PKG_LIBS) -lm
# BPF programs (bpf/*.bpf.c): clang with BTF; the multiarch directory gives
# <asm/types.h> to -target bpf.
BPF_CFLAGS = -O2 -g -target bpf -Wall -Wextra -Ibpf \
	     -idirafter /usr/include/$(shell $(CC) -print-multiarch 2>/dev/null)
ifdef DEVELOPER
ALL_CFLAGS += -Werror
BPF_CFLAGS += -Werror
endif
ifdef SANITIZE
# no recovery: a UBSan report fails the process (and so the test)
ALL_CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer
ifeq ($(findstring fuzzer,$(SANITIZE)),)
ALL_CFLAGS += -fno-sanitize-recover=all
endif
ALL_LDFLAGS += -fsanitize=$(SANITIZE)
endif

LIB_SRC := $(sort $(shell find src -name '*.c'))
CMD_SRC := $(sort $(wildcard cmd/*.c))
UNIT_SRC := $(sort $(wildcard tests/unit/*.c))
FUZZ_SRC := $(sort $(wildcard tests/fuzz/*.c))
MAN_SRC := $(sort $(wildcard man/*.scd))

LIB_OBJ := $(LIB_SRC:%.c=$(O)/%.o)
CMD_OBJ := $(CMD_SRC:%.c=$(O)/%.o)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(O)/tests/unit/%.t)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(O)/tests/fuzz/%)
MAN_OUT := $(MAN_SRC:man/%.scd=$(O)/man/%)
LIB := $(O)/libedgectl.a
BIN := $(O)/edgectl

.PHONY: all check demo bench lint man install uninstall clean deps unit fuzz print-libs \
	test-bins fuzzers check-sanitize
all: $(BIN) man

# the libraries a program linked with libedgectl.a needs (tests/lib/mkfleet.sh,
# the benchmark drivers): one list, here
print-libs:
	@echo $(PKG_LIBS) -lm

$(O)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

# BPF object -> skeleton header; only src/route/loader.c includes it.
$(O)/bpf/%.bpf.o: bpf/%.bpf.c bpf/%.h
	@mkdir -p $(@D)
	$(CLANG) $(BPF_CFLAGS) -c -o $@ $<
	$(LLVM_STRIP) -g $@

BPF_OBJ := $(patsubst bpf/%.bpf.c,$(O)/bpf/%.bpf.o,$(wildcard bpf/*.bpf.c))
.SECONDARY: $(BPF_OBJ)

$(O)/bpf/%.skel.h: $(O)/bpf/%.bpf.o
	$(BPFTOOL) gen skeleton $< name $* > $@.tmp
	@mv $@.tmp $@

$(O)/src/route/loader.o: $(O)/bpf/router.skel.h
$(O)/src/route/loader.o: private ALL_CFLAGS += -Ibpf -I$(O)/bpf
$(O)/tests/unit/route.t: private ALL_CFLAGS += -Ibpf

# The microVM guest init (guest/init.c): static, no sanitizers, linked into
# edgectl by src/vm/blob.c (.incbin), so the initramfs it writes needs no
# file installed beside the binary.
GUEST_CFLAGS = -std=gnu11 $(WARN) -Os -D_GNU_SOURCE -Isrc
ifdef DEVELOPER
GUEST_CFLAGS += -Werror
endif
$(O)/guest/init: guest/init.c src/vm/proto.h
	@mkdir -p $(@D)
	$(CC) $(GUEST_CFLAGS) -static -s -o $@ $<
$(O)/src/vm/blob.o: $(O)/guest/init
$(O)/src/vm/blob.o: private ALL_CFLAGS += -DVM_GUEST_INIT='"$(O)/guest/init"'

$(LIB): $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(BIN): $(CMD_OBJ) $(LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $(CMD_OBJ) $(LIB) $(LIBS)

$(O)/tests/unit/%.t: tests/unit/%.c tests/unit/tap.h $(LIB)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Itests/unit -o $@ $< $(LIB) $(LIBS) $(ALL_LDFLAGS)

# Fuzz targets: a libFuzzer entry point plus a replay main (tests/fuzz/replay.c)
# so `make check` replays each corpus without clang.
$(O)/tests/fuzz/%: tests/fuzz/%.c tests/fuzz/replay.inc $(LIB)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -DFUZZ_REPLAY -Itests/fuzz -o $@ $< $(LIB) $(LIBS) $(ALL_LDFLAGS)

# libFuzzer builds of the same targets, for fuzzing sessions (clang and
# libclang-rt-14-dev; not part of check):
#   make O=build-fuzz CC=clang SANITIZE=fuzzer-no-link,address,undefined fuzzers
#   build-fuzz/fuzzers/NAME -jobs=1 tests/fuzz/corpus/NAME
FUZZER_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(O)/fuzzers/%)
fuzzers: $(FUZZER_BIN)
$(O)/fuzzers/%: tests/fuzz/%.c $(LIB)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -fsanitize=fuzzer -Itests/fuzz -o $@ $< $(LIB) $(LIBS) $(ALL_LDFLAGS)

man: $(MAN_OUT)
$(O)/man/%: man/%.scd
	@mkdir -p $(@D)
	scdoc < $< > $@.tmp
	@mv $@.tmp $@

unit: $(UNIT_BIN)
fuzz: $(FUZZ_BIN)
test-bins: $(BIN) man $(UNIT_BIN) $(FUZZ_BIN)

deps:
	@tests/lib/deps.sh

# `check` installs what the tests need first, then builds and runs all tests
# through one TAP harness (prove's library) that ends with "N passed, N failed".
# EDGECTL_JOBS=N runs N test files at a time (default 1; .ci/run: 2).
check: deps
	$(MAKE) test-bins
	EDGECTL_O=$(O) tests/run $(TESTS)

# The sanitizer lane (.ci/run runs it after check): ASan + UBSan builds in
# their own directory, then the unit tests, the fuzz corpus replays and the
# suites of the store, build, push/pull and hostile input run on them, and
# 000-conventions (every command and verb with bad, missing and foreign
# options: a leak on an error path turns exit 2 into 1) and 430 (CDI specs
# in JSON and YAML, malformed ones). Not
# 012-store-cas: 800 edgectl processes under ASan take minutes, and its
# code paths (get, put --if-match) run in 011. Not 010-store-file: the same
# test bodies as 011 on the simpler backend (2 min), and the file store
# runs under ASan all through 100, 200 and 900, which use it. A leak's stack stops
# at the first libc frame (the fast unwinder); for the whole stack re-run
# with ASAN_OPTIONS=fast_unwind_on_malloc=0 (it makes the lane 2-6x slower).
# 011's multipart object is 48 MiB here (ST_MULTIPART_MB; 200 in check): the
# same 16 MiB parts, ranges and part boundary, a quarter of the bytes through
# ASan.
SAN_O ?= build-asan
SAN_TESTS ?= tests/cli/000-conventions.bats tests/cli/011-store-s3.bats \
	tests/cli/430-run-devices.bats \
	tests/cli/100-build.bats tests/cli/200-pushpull.bats \
	tests/cli/900-hostile.bats
SAN_ENV = ASAN_OPTIONS=$${ASAN_OPTIONS:-detect_leaks=1} \
	UBSAN_OPTIONS=$${UBSAN_OPTIONS:-print_stacktrace=1} \
	ST_MULTIPART_MB=$${ST_MULTIPART_MB:-48}
check-sanitize: deps
	$(MAKE) O=$(SAN_O) SANITIZE=address,undefined test-bins
	$(SAN_ENV) EDGECTL_O=$(SAN_O) tests/run $(SAN_O)/tests/unit/*.t \
		$(SAN_O)/tests/fuzz/* $(SAN_TESTS)

demo: deps
	$(MAKE) all
	tests/demo.sh

bench: deps
	$(MAKE) all
	tests/lib/deps.sh bench
	tests/bench/run-all.sh

lint:
	clang-format --dry-run --Werror $(LIB_SRC) $(CMD_SRC) $(shell find src cmd -name '*.h')

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man7
	install -m 755 $(BIN) $(DESTDIR)$(BINDIR)/edgectl
	for f in $(MAN_OUT); do case $$f in *.7) d=man7;; *) d=man1;; esac; \
		install -m 644 $$f $(DESTDIR)$(MANDIR)/$$d/; done
	install -D -m 644 completions/edgectl.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/edgectl
	install -D -m 644 completions/edgectl.zsh $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_edgectl
	install -D -m 644 completions/edgectl.fish $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/edgectl.fish

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/edgectl
	for f in $(MAN_OUT); do case $$f in *.7) d=man7;; *) d=man1;; esac; \
		rm -f $(DESTDIR)$(MANDIR)/$$d/$$(basename $$f); done
	rm -f $(DESTDIR)$(PREFIX)/share/bash-completion/completions/edgectl \
	      $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_edgectl \
	      $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/edgectl.fish

clean:
	rm -rf $(O)

-include $(LIB_OBJ:.o=.d) $(CMD_OBJ:.o=.d)
