#!/usr/bin/env bash
# Runs every fuzz target of the protocol core for SECONDS each (default 20).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Installs cargo-fuzz into $CACHE if it is missing. cargo-fuzz needs nightly
# compiler flags; RUSTC_BOOTSTRAP=1 lets the stable toolchain accept them.
# Builds with debug assertions and overflow checks on (as the kernel does),
# without a sanitizer (the core has no unsafe code). Each target keeps its
# corpus in rust/proto/fuzz/corpus/<target> (not in git), so longer runs
# build on earlier ones. Exits non-zero if any target finds a crash; the
# reproducer is in rust/proto/fuzz/artifacts/<target>/.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

secs="${1:-20}"
shift || true
[[ "$secs" =~ ^[0-9]+$ ]] || die "usage: $0 [SECONDS] [TARGET...]"

CARGO_FUZZ_ROOT="$CACHE/cargo-fuzz"
CARGO_FUZZ="$CARGO_FUZZ_ROOT/bin/cargo-fuzz"
if [[ ! -x "$CARGO_FUZZ" ]]; then
    log "installing cargo-fuzz into $CARGO_FUZZ_ROOT"
    cargo install --locked cargo-fuzz --root "$CARGO_FUZZ_ROOT"
fi

export RUSTC_BOOTSTRAP=1
cd "$TOP/rust/proto"

if [[ $# -gt 0 ]]; then
    targets=("$@")
else
    mapfile -t targets < <("$CARGO_FUZZ" list --fuzz-dir fuzz)
fi
[[ ${#targets[@]} -gt 0 ]] || die "no fuzz targets found"

log "building ${targets[*]}"
"$CARGO_FUZZ" build --fuzz-dir fuzz --debug-assertions --sanitizer none

# Logs go beside the corpora, not into cargo's target folder, which
# CARGO_TARGET_DIR may put elsewhere.
mkdir -p fuzz/logs
failed=()
for t in "${targets[@]}"; do
    log "fuzzing $t for ${secs}s"
    mkdir -p "fuzz/corpus/$t"
    if ! "$CARGO_FUZZ" run --fuzz-dir fuzz --debug-assertions --sanitizer none "$t" -- \
        -max_total_time="$secs" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 2>"fuzz/logs/$t.log"; then
        grep -a -E -A3 'panicked|^==[0-9]+== ERROR|^SUMMARY|Test unit written' "fuzz/logs/$t.log" >&2 || tail -n 40 "fuzz/logs/$t.log" >&2
        failed+=("$t")
    else
        grep -a -E '^(Done [0-9]+ runs|stat::new_units_added)' "fuzz/logs/$t.log" | tail -n 2 >&2 || true
    fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
    die "fuzz targets with findings: ${failed[*]} (see rust/proto/fuzz/artifacts/)"
fi
log "no findings in ${targets[*]}"
