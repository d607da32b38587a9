#!/bin/bash
# Keeps docs/af_custom.7 true: it must render without a groff warning and
# name every AFC_ option of the uapi header, every net.af_custom sysctl,
# every module parameter and every /proc/net/af_custom_stat counter.
# Prints what is missing; exits non-zero if anything is.
source "$(dirname "$0")/lib.sh"
MAN="$TOP/docs/af_custom.7"
bad=0
warn="$(LC_ALL=C.UTF-8 groff -man -ww -z -Tutf8 "$MAN" 2>&1 || true)"
[ -z "$warn" ] || { echo "groff warns: $warn"; bad=1; }
text="$(cat "$MAN")"
names=()
names+=($(grep -oE '^#define AFC_[A-Z_]+' "$TOP/rust/uapi/linux/af_custom.h" | awk '{ print $2 }'))
names+=($(grep -ohE 'procname = "[a-z_]+"' "$TOP"/rust/helpers/*.c | cut -d'"' -f2))
names+=($(grep -ohE 'module_param\([a-z_]+' "$TOP"/rust/helpers/*.c | cut -d'(' -f2))
names+=($(sed -n 's/^ *\([A-Z][A-Za-z0-9]*\): ".*/\1/p' "$TOP/rust/stats.rs"))
for n in "${names[@]}"; do
    grep -qw -- "$n" <<<"$text" || { echo "docs/af_custom.7 does not name $n"; bad=1; }
done
[ "$bad" = 0 ] && echo "docs/af_custom.7: renders cleanly and names all ${#names[@]} options, sysctls, parameters and counters"
exit "$bad"
