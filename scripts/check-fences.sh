#!/bin/bash
# The fences of the kernel crate that the compiler alone does not keep
# (the others are `forbid(unsafe_code)` outside `rust/abstractions` and the
# private `abstractions::bindings`, rust/af_custom_main.rs):
#  - no path into the kernel crate's own public `kernel::bindings` outside
#    `rust/abstractions` (its constants and types need no `unsafe`);
#  - rustfmt's check of the kernel crate, with the kernel's own
#    .rustfmt.toml (as the kernel's `make rustfmtcheck`); the host crates
#    are checked by `cargo fmt --all --check`.
# Prints each breach; exits non-zero if there is one.
source "$(dirname "$0")/lib.sh"
bad=0
cd "$TOP"
# Comments may name the bindings; code may not.
hits="$(grep -rnE '(^|[^A-Za-z0-9_])bindings::|kernel::bindings' --include='*.rs' rust \
    --exclude-dir=abstractions --exclude-dir=bindings --exclude-dir=userspace --exclude-dir=target |
    grep -vE '^[^:]+:[0-9]+:[[:space:]]*//' || true)"
if [ -n "$hits" ]; then
    echo "bindings used outside rust/abstractions:"; echo "$hits"; bad=1
fi
conf="$(ls -d "$CACHE"/src/linux-*/ 2>/dev/null | head -1).rustfmt.toml"
[ -f "$conf" ] || die "no kernel source under $CACHE/src (scripts/build-kernel.sh unpacks it)"
if ! out="$(rustfmt --check --config-path "$conf" rust/af_custom_main.rs 2>&1)"; then
    echo "rustfmt (kernel crate, $conf):"; echo "$out" | grep -E '^Diff in' ; bad=1
fi
[ "$bad" = 0 ] && echo "fences: no bindings outside rust/abstractions; the kernel crate is rustfmt-clean"
exit "$bad"
