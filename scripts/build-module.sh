#!/bin/bash
# Builds af_custom.ko against a kernel built by build-kernel.sh.
#
#   scripts/build-module.sh KERNEL_BUILD_DIR [normal|debug]
#
# With AFC_CLIPPY=1 (make check sets it) the normal flavour is built under
# the kernel's CLIPPY=1 (Debian's clippy for the kernel's rustc), which
# lints the kernel crate, the protocol core under its own lints included;
# any warning fails the build and removes the crate's object, so that the
# next build lints it again.  The VM tests then reuse that very build.
#
# The module sources are mirrored (mtimes kept, so Kbuild rebuilds only
# what changed) into build/module-FLAVOUR/, so that the normal and debug
# flavours never share objects. Prints the path of the .ko on stdout.
# The test modules of selftests/kmod are built into build/module-FLAVOUR/kmod/.
source "$(dirname "$0")/lib.sh"

KOBJ="${1:?usage: build-module.sh KERNEL_BUILD_DIR [flavour]}"
FLAVOUR="${2:-normal}"
OUT="$TOP/build/module-$FLAVOUR"
LLVM_ARGS=(); [ "$FLAVOUR" = debug ] && LLVM_ARGS=(LLVM=1)
CLIPPY_ARGS=()
[ "${AFC_CLIPPY:-0}" = 1 ] && [ "$FLAVOUR" = normal ] && CLIPPY_ARGS=(CLIPPY=1 CLIPPY_DRIVER="$CLIPPY_KERNEL")

mkdir -p "$OUT"
rsync -a --delete --exclude bindings_generated.rs --exclude target/ --exclude fuzz/ --exclude tests/ \
    --include '*/' --include '*.rs' --include '*.c' --include '*.h' --exclude '*' \
    "$TOP/rust/" "$OUT/rust/"
# Kbuild-generated and compiled files live beside the sources: keep them.
rsync -a "$TOP/Kbuild" "$OUT/Kbuild"
mkdir -p "$OUT/scripts" && rsync -a "$TOP/scripts/text-layout.py" "$TOP/scripts/text-hot.txt" "$OUT/scripts/"
make -s -C "$KOBJ" M="$OUT" ARCH=x86_64 "${LLVM_ARGS[@]}" "${CLIPPY_ARGS[@]}" \
    RUSTC="$RUSTC_KERNEL" HOSTRUSTC="$RUSTC_KERNEL" BINDGEN="$BINDGEN" -j"$JOBS" modules 2>&1 |
    tee "$OUT/build.log" >&2
if ((${#CLIPPY_ARGS[@]})) && grep -qE '^(warning|error)' "$OUT/build.log"; then
    rm -f "$OUT/af_custom.ko" "$OUT/rust/af_custom_main.o"
    die "clippy found the above in the kernel crate"
fi
# What the layout left (Kbuild places functions so that no instruction
# straddles a page): the count, on stderr.
python3 "$TOP/scripts/text-layout.py" check "$OUT/af_custom.ko" | tail -1 >&2
# The test modules the VM tests load (selftests/kmod), against the same
# kernel; they land in $OUT/kmod/ beside af_custom.ko.
rsync -a "$TOP/selftests/kmod/" "$OUT/kmod/"
make -s -C "$KOBJ" M="$OUT/kmod" ARCH=x86_64 "${LLVM_ARGS[@]}" -j"$JOBS" modules >&2
echo "$OUT/af_custom.ko"
