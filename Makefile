# lienthong — one Makefile: build, test, demo, bench.
# Every dependency is found with pkg-config; warnings are errors.

PKGS    := libevent libevent_pthreads libevent_openssl libcurl libxml-2.0 \
           xmlsec1-openssl openssl jansson sqlite3 libpq libsystemd
CC      ?= cc
OPT     ?= -O2 -g
CFLAGS  += $(OPT) $(SANFLAGS) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-deprecated-declarations -Wno-format-truncation \
           -Igateway -Igateway/store -Igateway/cli -Iadapters -Itests/unit -MMD -MP
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
LDLIBS  += $(PKG_LIBS) -lpthread -lm

B       := build

# Installation layout (make install PREFIX=… DESTDIR=…)
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
DATADIR    ?= $(PREFIX)/share/lienthong
MANDIR     ?= $(PREFIX)/share/man
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
STATEDIR   ?= /var/lib/lienthong
UNITDIR    ?= $(if $(filter /usr,$(PREFIX)),/lib/systemd/system,/etc/systemd/system)
CFLAGS     += -DLT_DATADIR='"$(DATADIR)"'
LIB_SRC := $(filter-out gateway/main.c,$(wildcard gateway/*.c gateway/store/*.c gateway/cli/*.c)) $(wildcard adapters/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(B)/obj/%.o)
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)

.PHONY: all deps test test-asan fuzz unit integration demo bench clean certs install uninstall man deb

all: $(B)/lienthong $(B)/peersim $(B)/benchload $(B)/jwstool $(B)/xmltool $(B)/lazyvfs.so $(B)/tests/lienthong-example $(B)/mapbench

deps:
	@bash scripts/deps.sh

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "CC $<"
	@$(CC) $(CFLAGS) $(PKG_CFLAGS) -c -o $@ $<

# The console's script (gateway/admin_ui.js) as a C string literal for admin_ui.c.
$(B)/gen/admin_ui_js.h: gateway/admin_ui.js
	@mkdir -p $(dir $@)
	sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$$/\\n"/' $< >$@
$(B)/obj/gateway/admin_ui.o: $(B)/gen/admin_ui_js.h
$(B)/obj/gateway/admin_ui.o: CFLAGS += -I$(B)/gen

$(B)/liblt.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(B)/lienthong: $(B)/obj/gateway/main.o $(B)/liblt.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(B)/peersim: $(B)/obj/tests/peersim.o $(B)/obj/tests/peersim_rec.o $(B)/obj/tests/peersim_ctl.o \
		$(B)/obj/tests/peersim_sign.o $(B)/liblt.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(B)/jwstool: $(B)/obj/tests/jwstool.o $(B)/liblt.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(B)/xmltool: $(B)/obj/tests/xmltool.o $(B)/liblt.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(B)/benchload: $(B)/obj/tests/benchload.o $(B)/liblt.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(B)/mapbench: $(B)/obj/tests/mapbench.o $(B)/liblt.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# The power-cut campaign's SQLite VFS (tests/powercut/lazyvfs.c), loaded into
# the real gateway with LD_PRELOAD: it loses every write not yet fsync'd.
$(B)/lazyvfs.so: tests/powercut/lazyvfs.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(shell pkg-config --cflags sqlite3) -fPIC -shared -o $@ $< $(shell pkg-config --libs sqlite3) -lpthread

# The worked example of adapters/README.md (tests/example/): the gateway, and the
# tests that enumerate the registry, built with one more adapter — its registry
# line given on the command line, as a real one is written in registry.c.
EXAMPLE_OBJ := $(B)/obj/tests/example/registry.o $(B)/obj/tests/example/kiosk.o
$(B)/obj/tests/example/registry.o: adapters/registry.c
	@mkdir -p $(dir $@)
	@echo "CC $< (+ kiosk)"
	@$(CC) $(CFLAGS) $(PKG_CFLAGS) -D'LT_EXTRA_ADAPTERS(ADAPTER)=ADAPTER(kiosk)' -c -o $@ $<

$(B)/tests/lienthong-example: $(B)/obj/gateway/main.o $(EXAMPLE_OBJ) $(B)/liblt.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(B)/tests/test_adapters $(B)/tests/test_adapter_kiosk: $(B)/tests/%: $(B)/obj/tests/unit/%.o $(EXAMPLE_OBJ) $(B)/liblt.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS) $(shell pkg-config --libs cmocka 2>/dev/null)

$(B)/tests/%: $(B)/obj/tests/unit/%.o $(B)/liblt.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS) $(shell pkg-config --libs cmocka 2>/dev/null)

certs: $(B)/certs/.done
$(B)/certs/.done: certs/gen-dev-pki.sh
	bash certs/gen-dev-pki.sh $(B)/certs
	@touch $@

# The README's test command: installs what is missing, builds, runs every test.
test: deps
	$(MAKE) all $(UNIT_BIN)
	$(MAKE) certs
	bash tests/run-all.sh

# The whole suite under AddressSanitizer + UndefinedBehaviorSanitizer, built in build-asan/.
test-asan: deps
	$(MAKE) certs
	$(MAKE) B=build-asan OPT="-O1 -g" \
		SANFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
		all $(UNIT_SRC:tests/unit/%.c=build-asan/tests/%)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 LT_BUILD=build-asan bash tests/run-all.sh

# libFuzzer harnesses (clang, ASan + UBSan) for every adapter's parsers, the
# JWS and XML-DSig verifiers, the config, code-table and mapping-file parsers and the peer listener (raw
# HTTP into the ingress handler); FUZZ_SECONDS per harness. With
# LT_FIGURES=DIR the counts also go to DIR/fuzz.json.
FUZZ_SECONDS ?= 60
fuzz: deps certs
	bash tests/fuzz/run.sh $(FUZZ_SECONDS)

unit: all $(UNIT_BIN)
	bash tests/run-all.sh unit

integration: all certs
	bash tests/run-all.sh integration

demo: deps
	$(MAKE) all certs
	/usr/bin/python3 scripts/demo.py

# make bench BENCH=latency,history: only those sections (cases latency history queued pg)
bench: deps
	$(MAKE) all certs
	LT_BENCH_SECTIONS="$(BENCH)" /usr/bin/python3 tests/bench.py

# The integration suite with every gateway under valgrind's memcheck: any
# error or definite leak fails its test.
.PHONY: test-valgrind reliability
test-valgrind: deps
	$(MAKE) all certs
	LT_VALGRIND=1 bash tests/run-all.sh integration

# The long crash, fault, overload, fuzz and valgrind campaigns, then a table
# of figures (scripts/reliability.py says which variables lengthen each).
reliability: deps
	$(MAKE) all certs
	/usr/bin/python3 scripts/reliability.py

# Man pages: scdoc sources in doc/ turned into roff.
MAN := $(B)/man/lienthong.8 $(B)/man/lienthong.conf.5
man: $(MAN)
$(B)/man/%: doc/%.scd
	@mkdir -p $(dir $@)
	scdoc <$< >$@

$(B)/lienthong.service: dist/lienthong.service.in
	sed -e 's#@BINDIR@#$(BINDIR)#g' -e 's#@SYSCONFDIR@#$(SYSCONFDIR)#g' $< >$@

# The daemon, its schemas, code tables and mapping files, man pages, unit, and a sample configuration that is
# never overwritten: an existing lienthong.conf is kept (the new sample goes
# beside it as lienthong.conf.dist). As root with no DESTDIR, the service user
# is created and owns the state directory.
install: $(B)/lienthong $(MAN) $(B)/lienthong.service
	install -d -m 0755 $(DESTDIR)$(BINDIR) $(DESTDIR)$(DATADIR) $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(UNITDIR)
	install -m 0755 $(B)/lienthong $(DESTDIR)$(BINDIR)/lienthong
	cp -R schemas $(DESTDIR)$(DATADIR)/ && rm -rf $(DESTDIR)$(DATADIR)/schemas/samples
	rm -rf $(DESTDIR)$(DATADIR)/codes $(DESTDIR)$(DATADIR)/mappings && cp -R codes mappings $(DESTDIR)$(DATADIR)/
	find $(DESTDIR)$(DATADIR) -type d -exec chmod 0755 {} + && find $(DESTDIR)$(DATADIR) -type f -exec chmod 0644 {} +
	install -m 0644 $(B)/man/lienthong.8 $(DESTDIR)$(MANDIR)/man8/lienthong.8
	install -m 0644 $(B)/man/lienthong.conf.5 $(DESTDIR)$(MANDIR)/man5/lienthong.conf.5
	install -m 0644 $(B)/lienthong.service $(DESTDIR)$(UNITDIR)/lienthong.service
	install -d -m 0750 $(DESTDIR)$(SYSCONFDIR)/lienthong $(DESTDIR)$(SYSCONFDIR)/lienthong/certs \
		$(DESTDIR)$(SYSCONFDIR)/lienthong/peers $(DESTDIR)$(SYSCONFDIR)/lienthong/codes \
		$(DESTDIR)$(SYSCONFDIR)/lienthong/mappings
	if [ -e $(DESTDIR)$(SYSCONFDIR)/lienthong/lienthong.conf ]; then \
		install -m 0640 dist/lienthong.conf $(DESTDIR)$(SYSCONFDIR)/lienthong/lienthong.conf.dist; \
	else install -m 0640 dist/lienthong.conf $(DESTDIR)$(SYSCONFDIR)/lienthong/lienthong.conf; fi
	install -d -m 0700 $(DESTDIR)$(STATEDIR)
	if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then \
		getent passwd lienthong >/dev/null || useradd --system --home-dir $(STATEDIR) --no-create-home \
			--shell /usr/sbin/nologin --user-group lienthong; \
		chown lienthong:lienthong $(STATEDIR); chgrp lienthong $(SYSCONFDIR)/lienthong $(SYSCONFDIR)/lienthong/codes \
			$(SYSCONFDIR)/lienthong/mappings; \
	fi

# Removes what install put there except the configuration and the state
# (the store holds dossiers: delete /var/lib/lienthong by hand if you mean it).
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/lienthong $(DESTDIR)$(MANDIR)/man8/lienthong.8 \
		$(DESTDIR)$(MANDIR)/man5/lienthong.conf.5 $(DESTDIR)$(UNITDIR)/lienthong.service \
		$(DESTDIR)$(SYSCONFDIR)/lienthong/lienthong.conf.dist
	rm -rf $(DESTDIR)$(DATADIR)

# A Debian package built with debhelper (debian/): build/deb/lienthong_VERSION_ARCH.deb
deb: deps
	rm -rf $(B)/deb && mkdir -p $(B)/deb/src
	git ls-files -z | xargs -0 cp --parents -t $(B)/deb/src
	cd $(B)/deb/src && dpkg-buildpackage -b -us -uc -j2 >../build.log 2>&1 || { tail -40 ../build.log; exit 1; }
	@ls $(B)/deb/*.deb

clean:
	rm -rf $(B) build-asan build-fuzz

-include $(wildcard $(B)/obj/*/*.d $(B)/obj/*/*/*.d)
