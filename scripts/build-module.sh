#!/bin/bash
# Builds af_custom.ko against a kernel built by build-kernel.sh.
#
#   scripts/build-module.sh KERNEL_BUILD_DIR [normal|debug|clippy]
#
# clippy: the normal kernel's build once more under the kernel's CLIPPY=1
# (Debian's clippy for the kernel's rustc), which checks the kernel
# crate, the protocol core included under its own lints; every warning is
# printed and the build fails on any.
#
# The module sources are mirrored (mtimes kept, so Kbuild rebuilds only
# what changed) into build/module-FLAVOUR/, so that the normal and debug
# flavours never share objects. Prints the path of the .ko on stdout.
source "$(dirname "$0")/lib.sh"

KOBJ="${1:?usage: build-module.sh KERNEL_BUILD_DIR [flavour]}"
FLAVOUR="${2:-normal}"
OUT="$TOP/build/module-$FLAVOUR"
LLVM_ARGS=(); [ "$FLAVOUR" = debug ] && LLVM_ARGS=(LLVM=1)
CLIPPY_ARGS=(); [ "$FLAVOUR" = clippy ] && CLIPPY_ARGS=(CLIPPY=1 CLIPPY_DRIVER="$CLIPPY_KERNEL")

mkdir -p "$OUT"
rsync -a --delete --exclude bindings_generated.rs --exclude target/ --exclude fuzz/ --exclude tests/ \
    --include '*/' --include '*.rs' --include '*.c' --include '*.h' --exclude '*' \
    "$TOP/rust/" "$OUT/rust/"
# Kbuild-generated and compiled files live beside the sources: keep them.
rsync -a "$TOP/Kbuild" "$OUT/Kbuild"
if [ "$FLAVOUR" = clippy ]; then
    # Every Rust file again, so that each is linted.
    find "$OUT" -name '*.o' -delete
    make -s -C "$KOBJ" M="$OUT" ARCH=x86_64 "${CLIPPY_ARGS[@]}" \
        RUSTC="$RUSTC_KERNEL" HOSTRUSTC="$RUSTC_KERNEL" BINDGEN="$BINDGEN" -j"$JOBS" modules 2>&1 |
        tee "$OUT/clippy.log" >&2
    if grep -qE '^(warning|error)' "$OUT/clippy.log"; then
        die "clippy found the above in the kernel crate"
    fi
else
    make -s -C "$KOBJ" M="$OUT" ARCH=x86_64 "${LLVM_ARGS[@]}" \
        RUSTC="$RUSTC_KERNEL" HOSTRUSTC="$RUSTC_KERNEL" BINDGEN="$BINDGEN" -j"$JOBS" modules >&2
fi
echo "$OUT/af_custom.ko"
