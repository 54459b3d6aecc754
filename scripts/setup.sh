#!/usr/bin/env bash
# Installs what ackscope needs to build and test on Debian 12, idempotently. Run as root.
set -euo pipefail

PKGS=(clang-19 llvm-19 libelf-dev zlib1g-dev m4 pkg-config make gcc libc6-dev
      iproute2 ethtool tcpdump nftables python3 procps tshark
      chromium
      python3-jsonschema systemd dpkg-dev prometheus man-db logrotate adduser)
# chromium: tests/report_chromium.rs renders the incident report headless; prometheus, systemd, dpkg-dev:
# the fleet tests (tests/fleet_prometheus.rs, tests/packaging.rs)

missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    if [[ $EUID -ne 0 ]]; then
        echo "setup: need root to install: ${missing[*]} (re-run with sudo)" >&2
        exit 1
    fi
    echo "setup: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    # Packages with a daemon (prometheus) must not start it here: the fleet test starts its own
    # Prometheus in a network namespace. policy-rc.d exit 101 = "do not start services".
    policy_added=""
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        policy_added=1
    fi
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
    if [[ -n "$policy_added" ]]; then rm -f /usr/sbin/policy-rc.d; fi
fi

if ! command -v cargo >/dev/null 2>&1; then
    if [[ -x "$HOME/.cargo/bin/cargo" ]]; then
        export PATH="$HOME/.cargo/bin:$PATH"
    else
        echo "setup: cargo not found; install Rust (https://rustup.rs) and re-run" >&2
        exit 1
    fi
fi
