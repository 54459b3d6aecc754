#!/usr/bin/env bash
# Installs what ackscope needs to build and test on Debian 12, idempotently. Run as root.
set -euo pipefail

PKGS=(clang-19 llvm-19 libelf-dev zlib1g-dev m4 pkg-config make gcc libc6-dev
      iproute2 ethtool tcpdump nftables python3 procps tshark libcap2-bin util-linux curl
      chromium
      python3-jsonschema systemd dpkg-dev prometheus man-db logrotate adduser
      haproxy nginx wrk)
# chromium: tests/report_chromium.rs renders the incident report headless; prometheus, systemd, dpkg-dev:
# the fleet tests (tests/fleet_prometheus.rs, tests/packaging.rs); haproxy, nginx, wrk: tests/live/lb.sh,
# inside its own namespaces with its own config, pid and log paths.

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
    # Packages with a daemon (prometheus, haproxy, nginx) must not start it in the root namespace:
    # the tests start their own in network namespaces. policy-rc.d exit 101 = "do not start
    # services"; only a policy file created here is removed.
    policy_added=""
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        policy_added=1
    fi
    apt-get update -q
    rc=0
    apt-get install -y -q --no-install-recommends "${missing[@]}" || rc=$?
    if [[ -n "$policy_added" ]]; then rm -f /usr/sbin/policy-rc.d; fi
    ((rc == 0)) || exit "$rc"
fi

if ! command -v cargo >/dev/null 2>&1; then
    if [[ -x "$HOME/.cargo/bin/cargo" ]]; then
        export PATH="$HOME/.cargo/bin:$PATH"
    else
        echo "setup: cargo not found; install Rust (https://rustup.rs) and re-run" >&2
        exit 1
    fi
fi
