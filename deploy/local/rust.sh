#!/usr/bin/env bash
# Make sure a Rust toolchain can build native/avro (pip builds it through maturin).
# rustup's ~/.cargo/bin first (the Makefile puts it on PATH); else Debian's cargo and rustc.
set -euo pipefail

export PATH="$HOME/.cargo/bin:$PATH"
if command -v cargo > /dev/null && command -v rustc > /dev/null; then
    exit 0
fi
echo "rust.sh: no cargo on PATH or in ~/.cargo/bin; installing Debian's cargo" >&2
"$(dirname "$0")/apt_install.sh" cargo rustc gcc
command -v cargo > /dev/null || { echo "rust.sh: cargo still missing: install Rust (rustup.rs) and rerun" >&2; exit 1; }
