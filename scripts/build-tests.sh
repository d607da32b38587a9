#!/bin/bash
# Builds the programs the VM runs: the kselftest C tests (against
# kselftest_harness.h of the unpacked kernel tree) and the Rust userspace
# tests (every bin of selftests/rust, with make run's afc_echo demo), into
# build/tests/.  Prints that folder.
source "$(dirname "$0")/lib.sh"

KOBJ="${1:?usage: build-tests.sh KERNEL_BUILD_DIR}"
KSRC="$(readlink -f "$KOBJ/source")"
OUT="$TOP/build/tests"
mkdir -p "$OUT"
CFLAGS=(-O2 -g -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare -Wno-clobbered -static -pthread
        -I"$KSRC/tools/testing/selftests" -I"$TOP/rust/uapi" -D_GNU_SOURCE)
# uring.c links liburing statically (Debian's liburing-dev, setup-host.sh).
LIBURING=/usr/lib/x86_64-linux-gnu/liburing.a
for c in "$TOP"/selftests/af_custom/*.c; do
    bin="$OUT/$(basename "$c" .c)"
    libs=()
    if [ "$(basename "$c")" = uring.c ]; then
        [ -f "$LIBURING" ] || die "$LIBURING missing: apt-get install liburing-dev (scripts/setup-host.sh)"
        libs=(-luring)
    fi
    if [ ! -x "$bin" ] || [ -n "$(find "$TOP/selftests/af_custom" "$TOP/rust/uapi" -newer "$bin" -type f)" ]; then
        gcc "${CFLAGS[@]}" -o "$bin" "$c" "${libs[@]}"
    fi
done
( cd "$TOP" && cargo build -q --release -p afc-selftests -p afc-ss )
TARGET="${CARGO_TARGET_DIR:-$TOP/target}"
for b in "$TOP"/selftests/rust/src/bin/*.rs; do
    cp "$TARGET/release/$(basename "$b" .rs)" "$OUT/"
done
# afc-ss, the sock_diag tool (diag.c runs it from beside itself).
cp "$TARGET/release/afc-ss" "$OUT/"
# afc.py and its tests (Python, run by the guest's python3).
cp "$TOP/rust/userspace/python/afc.py" "$OUT/afc.py"
install -m 755 "$TOP/selftests/python/python_afc.py" "$OUT/python_afc"
# The capture for the host's dissector test (scripts/check-dissector.sh).
install -m 755 "$TOP/selftests/vm/capture.sh" "$OUT/capture"
echo "$OUT"
