#!/usr/bin/env bash
# Installs the Debian 12 packages lienthong needs that this machine lacks.
# Idempotent: does nothing when everything is present.
set -euo pipefail
pkgs=(build-essential pkg-config make gcc
      libevent-dev libcurl4-openssl-dev libxml2-dev libxmlsec1-dev xmlsec1
      libssl-dev openssl libjansson-dev libsqlite3-dev sqlite3
      libpq-dev libcmocka-dev python3 python3-jsonschema python3-cryptography libxml2-utils curl ca-certificates procps
      clang libclang-rt-14-dev    # the fuzz harnesses: clang 14 and its libFuzzer and sanitizer runtimes
      util-linux mount e2fsprogs  # store-fault tests: a small tmpfs, and ext4 on a loop device that fails
      postgresql                  # the PostgreSQL store's tests: initdb, postgres and psql (15 on Debian 12)
      valgrind                    # make test-valgrind
      libsystemd-dev scdoc man-db # sd_notify; the man pages (scdoc sources) and man -l in the install test
      debhelper dpkg-dev debootstrap systemd prometheus   # make deb; its test installs it into a clean Debian 12 root;
                                  # systemd-analyze verify/security on the unit; promtool checks /metrics
      chromium                    # the console's test in a real browser (headless, driven by puppeteer-core)
      libengine-pkcs11-openssl    # sign_key/tls_key = pkcs11:… — OpenSSL 3's pkcs11 engine (libp11; Debian 12 has no
                                  # pkcs11 provider package)
      softhsm2 opensc libp11-kit-dev   # test_token.py: a SoftHSM2 token made by the test, pkcs11-tool (OpenSC) to
                                  # set it up, p11-kit's pkcs11.h for the test's unpluggable module
      )
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
SUDO=
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
if [ ${#missing[@]} -gt 0 ]; then
	echo "deps: installing ${missing[*]}"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# node and npm for the interop checks (node's jose and xml-crypto verify what
# lienthong signs): Debian's nodejs and npm unless a node is already present
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	echo "deps: installing nodejs npm"
	DEBIAN_FRONTEND=noninteractive ${SUDO:-} apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
here=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -d "$here/tests/interop/node_modules/jose" ] || [ ! -d "$here/tests/interop/node_modules/xml-crypto" ]; then
	echo "deps: npm ci in tests/interop"
	(cd "$here/tests/interop" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
# the console's browser test: puppeteer-core drives the chromium installed above (it downloads no browser)
if [ ! -d "$here/tests/browser/node_modules/puppeteer-core" ]; then
	echo "deps: npm ci in tests/browser"
	(cd "$here/tests/browser" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
