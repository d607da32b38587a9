#!/bin/bash
# Builds the benchmark program (static, like the selftests, so that it runs
# in the VM's busybox initramfs) into build/bench/afc_bench and prints its
# path.  Also builds the second, independent harness (server and client as
# threads of one process) into build/bench/threads_bench, beside it.
# Needs only gcc and the static libc (Debian: libc6-dev).
#
#   bench/build.sh
source "$(dirname "$0")/../scripts/lib.sh"

OUT="$TOP/build/bench"
mkdir -p "$OUT"
bin="$OUT/afc_bench"
if [ ! -x "$bin" ] || [ -n "$(find "$TOP/bench" "$TOP/rust/uapi" -newer "$bin" -type f)" ]; then
    gcc -O2 -g -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare -static -D_GNU_SOURCE \
        -I"$TOP/rust/uapi" -o "$bin" "$TOP/bench/afc_bench.c" "$TOP/bench/afc_bench_more.c" -lm
fi
tbin="$OUT/threads_bench"
if [ ! -x "$tbin" ] || [ "$TOP/bench/threads_bench.c" -nt "$tbin" ] || [ -n "$(find "$TOP/rust/uapi" -newer "$tbin" -type f)" ]; then
    gcc -O2 -g -Wall -Wextra -Wno-unused-parameter -static -pthread -D_GNU_SOURCE \
        -I"$TOP/rust/uapi" -o "$tbin" "$TOP/bench/threads_bench.c" >&2
fi
echo "$bin"
