#!/bin/bash
# The tests between hosts (issue 14): three guests of the normal or debug
# kernel on two shared segments (virtio-net and e1000, qemu/run-hosts.sh),
# each running selftests/vm/hosts.sh.  Prints "VM: passed=N failed=N
# skipped=N" added up over the guests' consoles (build/hosts-FLAVOUR/,
# every boot of every guest).
#
#   scripts/hosts-tests.sh [normal|debug]
#
# Host 3 is a second client of the reuseport test only; AFC_HOSTS_THREE=0
# boots hosts 1 and 2 alone (the reuseport test then has one client host).
# AFC_HOSTS_MB, AFC_HOSTS_JUMBO_MB, AFC_HOSTS_LOSSY_MB, AFC_HOSTS_SHARD_KB
# set the transfer sizes (selftests/af_custom/hosts.c); AFC_MODULE_PARAMS
# the module's parameters at insmod (e.g. "gso=0").
source "$(dirname "$0")/lib.sh"
FLAVOUR="${1:-normal}"
build_vm_inputs "$FLAVOUR"
LOGDIR="$TOP/build/hosts-$FLAVOUR"
rm -rf "$LOGDIR"; mkdir -p "$LOGDIR"
[ "$FLAVOUR" = debug ] && export VM_MEM="${VM_MEM:-1G}" VM_TIMEOUT="${VM_TIMEOUT:-1800}"
N=3; [ "${AFC_HOSTS_THREE:-1}" = 0 ] && N=2
# The guest script with the sizes asked for.
GUEST="$LOGDIR/hosts-guest.sh"
{
    echo "#!/bin/sh"
    for v in AFC_HOSTS_MB AFC_HOSTS_JUMBO_MB AFC_HOSTS_LOSSY_MB AFC_HOSTS_SHARD_KB AFC_MODULE_PARAMS; do
        [ -n "${!v:-}" ] && echo "export $v='${!v}'"
    done
    cat "$TOP/selftests/vm/hosts.sh"
} > "$GUEST"
set +e
"$TOP/qemu/run-hosts.sh" "$KOBJ/arch/x86/boot/bzImage" "$LOGDIR" "$N" "$GUEST" \
    "$KO:/afc/af_custom.ko" "$TESTS/hosts:/afc/tests/hosts" >&2
rc=$?
set -e
p=0; f=0; s=0
for l in "$LOGDIR"/host-*.log; do
    summary="$(grep -a '^AFC-SUMMARY' "$l" 2>/dev/null | tail -1 || true)"
    [ -n "$summary" ] || { log "$(basename "$l"): no AFC-SUMMARY"; f=$((f + 1)); continue; }
    p=$((p + $(sed -n 's/.*passed=\([0-9]*\).*/\1/p' <<<"$summary")))
    f=$((f + $(sed -n 's/.*failed=\([0-9]*\).*/\1/p' <<<"$summary")))
    s=$((s + $(sed -n 's/.*skipped=\([0-9]*\).*/\1/p' <<<"$summary")))
done
case $rc in
0) ;;
99) log "a kernel reported a problem during the run: counted as a failure"; f=$((f + 1)) ;;
*) [ "$f" = 0 ] && f=1 ;;
esac
echo "VM: passed=$p failed=$f skipped=$s"
