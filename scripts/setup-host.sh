#!/bin/bash
# Installs what the build and tests need on a Debian 12 machine: Debian
# packages (only those missing) and bindgen-cli into the cache. Idempotent.
source "$(dirname "$0")/lib.sh"

PKGS=(linux-source-6.12 rustc-web rust-web-src rust-web-clippy libclang-dev clang lld llvm
      flex bison bc libelf-dev libssl-dev cpio kmod qemu-system-x86
      busybox-static dwarves iproute2 rsync make gcc libc6-dev python3 xz-utils
      liburing-dev)
# The Ethernet segments of the multi-host runner (qemu/run-hosts.sh):
# vde_plug (Debian vdeplug, which vde2 depends on) and its switch module.
PKGS+=(vde2)
# socat and tcpdump in the VM image (selftests/af_custom/socat.c,
# selftests/vm/capture.sh); tshark for the dissector's host test.
PKGS+=(socat tcpdump tshark)

missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    log "installing Debian packages: ${missing[*]}"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

[ -x "$RUSTC_KERNEL" ] || die "$RUSTC_KERNEL missing: Debian's rustc-web did not install"
[ -f "$KSRC_TARBALL" ] || die "$KSRC_TARBALL missing: Debian's linux-source-6.12 did not install"
[ -d /usr/lib/rustlib/src/rust/library/core ] || die "rust-web-src's core source missing under /usr/lib/rustlib/src/rust/library"

if ! [ -x "$BINDGEN" ] || ! "$BINDGEN" --version | grep -q "$BINDGEN_VERSION"; then
    log "installing bindgen-cli $BINDGEN_VERSION into $CACHE"
    mkdir -p "$CACHE"
    cargo install --locked --root "$CACHE/bindgen-$BINDGEN_VERSION" bindgen-cli --version "$BINDGEN_VERSION"
fi
# Host lints (make check): clippy and rustfmt for the host's cargo.
if ! cargo clippy --version >/dev/null 2>&1 || ! cargo fmt --version >/dev/null 2>&1; then
    command -v rustup >/dev/null || die "cargo clippy and cargo fmt are needed (rustup component add clippy rustfmt)"
    log "installing clippy and rustfmt (rustup components)"
    rustup component add clippy rustfmt
fi
log "host ready: $("$RUSTC_KERNEL" --version), $("$BINDGEN" --version)"
