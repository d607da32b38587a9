#!/bin/bash
# Runs the VM test suite on one kernel flavour and prints a line
# "VM: passed=N failed=N skipped=N".
#
#   scripts/vm-tests.sh [normal|debug]
#   AFC_TESTS="stream bind" scripts/vm-tests.sh normal   (only those programs)
source "$(dirname "$0")/lib.sh"
FLAVOUR="${1:-normal}"
build_vm_inputs "$FLAVOUR"
GUEST="${GUEST_SCRIPT:-$TOP/selftests/vm/check.sh}"
LOG="$TOP/build/vm-$FLAVOUR.log"
# AFC_TESTS="stream bind" runs only those test programs (the guest's list).
if [ -n "${AFC_TESTS:-}" ]; then
    mkdir -p "$TOP/build"
    { echo "#!/bin/sh"; echo "export AFC_TESTS='$AFC_TESTS'"; cat "$GUEST"; } > "$TOP/build/guest-$FLAVOUR.sh"
    GUEST="$TOP/build/guest-$FLAVOUR.sh"
fi

files=("$KO:/afc/af_custom.ko" "$(dirname "$KO")/kmod/afc_kern_sock.ko:/afc/afc_kern_sock.ko")
for t in "$TESTS"/*; do files+=("$t:/afc/tests/$(basename "$t")"); done

[ "$FLAVOUR" = debug ] && export VM_MEM="${VM_MEM:-2G}" VM_TIMEOUT="${VM_TIMEOUT:-1800}"
# A console left by an earlier run must never be read as this one's.
rm -f "$LOG"
set +e
"$TOP/qemu/run-vm.sh" "$KOBJ/arch/x86/boot/bzImage" "$LOG" "$GUEST" "${files[@]}" >&2
rc=$?
set -e
summary="$(grep -a '^AFC-SUMMARY' "$LOG" 2>/dev/null | tail -1 || true)"
p=$(sed -n 's/.*passed=\([0-9]*\).*/\1/p' <<<"$summary"); p=${p:-0}
f=$(sed -n 's/.*failed=\([0-9]*\).*/\1/p' <<<"$summary"); f=${f:-0}
s=$(sed -n 's/.*skipped=\([0-9]*\).*/\1/p' <<<"$summary"); s=${s:-0}
case $rc in
0) ;;
99) log "the kernel reported a problem during the run: counted as a failure"; f=$((f + 1)) ;;
*) [ "$f" = 0 ] && f=1 ;;
esac
# A debug run that silently ran without its checkers counts as not run.
if [ "$FLAVOUR" = debug ]; then
    for marker in "Good, all [0-9]* testcases passed" "KernelAddressSanitizer initialized" \
                  "kmemleak: Kernel memory leak detector initialized" "ok - vm.kmemleak_clean"; do
        if grep -aq "$marker" "$LOG" 2>/dev/null; then
            log "debug check active: $(grep -a -o -m1 "$marker" "$LOG")"
        else
            log "debug check missing from the console: '$marker'"; f=$((f + 1))
        fi
    done
fi
echo "VM: passed=$p failed=$f skipped=$s"
