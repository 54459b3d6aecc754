#!/usr/bin/env bash
# Installs what ackscope needs to build and test on Debian 12, idempotently. Run as root.
set -euo pipefail

PKGS=(clang-19 llvm-19 libelf-dev zlib1g-dev m4 pkg-config make gcc libc6-dev
      iproute2 ethtool tcpdump nftables python3 procps tshark
      haproxy nginx wrk)
# haproxy and nginx are only run by tests/live/lb.sh, inside its own namespaces with its own
# config, pid and log paths; their Debian services must not start on install (below).

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
    apt-get update -q
    # policy-rc.d 101 = "action forbidden": the packages' postinst must not start haproxy or
    # nginx as services in the root namespace. Only a policy file created here is removed.
    own_policy=""
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        own_policy=1
    fi
    rc=0
    apt-get install -y -q --no-install-recommends "${missing[@]}" || rc=$?
    [[ -n "$own_policy" ]] && rm -f /usr/sbin/policy-rc.d
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
