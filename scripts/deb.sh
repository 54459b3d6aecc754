#!/usr/bin/env bash
# Builds the Debian package with cargo-deb: release binary, man page from its --help, then
# `cargo deb --no-build`. Prints the path of the .deb on stdout. Installs cargo-deb if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v cargo-deb >/dev/null 2>&1; then
    echo "deb: installing cargo-deb (cargo install --locked cargo-deb)" >&2
    cargo install --locked cargo-deb >&2
fi
cargo build --release --bin ackscope >&2
bash scripts/manpage.sh target/release/ackscope target/man/ackscope.1
gzip -9nf target/man/ackscope.1
cargo deb --no-build --strip --output target/debian/ >&2
ls -t target/debian/ackscope_*.deb | head -1
