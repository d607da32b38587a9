# Shared settings for the project's scripts. Source it; do not run it.
set -euo pipefail

TOP="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Everything built outside the repo lives here; reused across clones.
CACHE="${AFC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/af_custom}"
JOBS="${JOBS:-$(nproc)}"
# The host crates' builds (tests, lints, selftest programs, fuzzers) too:
# a clean clone reuses them instead of building tokio and the rest again.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/cargo-target}"
BINDGEN_VERSION="0.71.1"
BINDGEN="$CACHE/bindgen-$BINDGEN_VERSION/bin/bindgen"
KSRC_TARBALL="${KSRC_TARBALL:-/usr/src/linux-source-6.12.tar.xz}"
RUSTC_KERNEL="${RUSTC_KERNEL:-/usr/bin/rustc}"
# Clippy for the kernel's rustc (Debian's rust-web-clippy): `make check`
# builds the module once more with the kernel's CLIPPY=1.
CLIPPY_KERNEL="${CLIPPY_KERNEL:-/usr/bin/clippy-driver}"

log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }
die() { printf '[%s] error: %s\n' "$(basename "$0")" "$*" >&2; exit 1; }

# The rustup toolchain (host tests, cargo install) may not be on a
# non-interactive PATH; kernel builds use $RUSTC_KERNEL explicitly.
[ -d "$HOME/.cargo/bin" ] && case ":$PATH:" in *":$HOME/.cargo/bin:"*) ;; *) export PATH="$HOME/.cargo/bin:$PATH" ;; esac

# The kernel, module and test programs a VM run of flavour $1 boots with:
# sets KOBJ (kernel build folder), KO (the module) and TESTS (the folder of
# test programs), building or reusing each.
build_vm_inputs() {
    KOBJ="$("$TOP/scripts/build-kernel.sh" "$1")"
    KO="$("$TOP/scripts/build-module.sh" "$KOBJ" "$1")"
    TESTS="$("$TOP/scripts/build-tests.sh" "$KOBJ")"
    [ -f "$KO" ] || die "no module was built (got '$KO')"
}
