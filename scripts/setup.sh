#!/usr/bin/env bash
# Installs what ackscope needs to build and test on Debian 12, idempotently. Run as root.
set -euo pipefail

PKGS=(clang-19 llvm-19 libelf-dev zlib1g-dev m4 pkg-config make gcc libc6-dev
      iproute2 ethtool tcpdump nftables python3 procps tshark
      chromium)   # chromium: tests/report_chromium.rs renders the incident report headless

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
    apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
    if [[ -x "$HOME/.cargo/bin/cargo" ]]; then
        export PATH="$HOME/.cargo/bin:$PATH"
    else
        echo "setup: cargo not found; install Rust (https://rustup.rs) and re-run" >&2
        exit 1
    fi
fi
