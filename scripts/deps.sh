#!/usr/bin/env bash
# Installs the Debian 12 packages lienthong needs that this machine lacks.
# Idempotent: does nothing when everything is present.
set -euo pipefail
pkgs=(build-essential pkg-config make gcc
      libevent-dev libcurl4-openssl-dev libxml2-dev libxmlsec1-dev xmlsec1
      libssl-dev openssl libjansson-dev libcjose-dev libsqlite3-dev sqlite3
      libpq-dev libcmocka-dev python3 python3-jsonschema python3-cryptography curl ca-certificates procps)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "deps: installing ${missing[*]}"
	if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
