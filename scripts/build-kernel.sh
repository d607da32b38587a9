#!/bin/bash
# Builds the kernel AF_CUSTOM runs on, into a cache outside the repo.
#
#   scripts/build-kernel.sh [normal|debug]     prints the build folder on stdout
#
# The build folder is keyed by the linux-source package version, the config
# fragments, this script and the toolchain versions; a complete build there
# (stamp file present) is reused as it is. `normal` is gcc + tinyconfig +
# scripts/kconfig/base.config; `debug` adds scripts/kconfig/debug.config and
# builds with clang (LLVM=1), because CONFIG_RUST needs !KASAN || CC_IS_CLANG.
source "$(dirname "$0")/lib.sh"

FLAVOUR="${1:-normal}"
case "$FLAVOUR" in
normal) FRAGS=("$TOP/scripts/kconfig/base.config"); LLVM_ARGS=() ;;
debug)  FRAGS=("$TOP/scripts/kconfig/base.config" "$TOP/scripts/kconfig/debug.config"); LLVM_ARGS=(LLVM=1) ;;
*) die "unknown flavour '$FLAVOUR' (normal or debug)" ;;
esac

[ -x "$BINDGEN" ] || die "bindgen missing: run scripts/setup-host.sh"
[ -f "$KSRC_TARBALL" ] || die "$KSRC_TARBALL missing: run scripts/setup-host.sh"
PKGVER="$(dpkg-query -W -f='${Version}' linux-source-6.12 2>/dev/null || echo unknown)"
KEY="$( { echo "$PKGVER"; cat "${FRAGS[@]}" "$0"; "$RUSTC_KERNEL" --version; "$BINDGEN" --version;
          if ((${#LLVM_ARGS[@]})); then clang --version; else gcc --version; fi; } | sha256sum | cut -c1-12)"
SRC="$CACHE/src/linux-$PKGVER"
OBJ="$CACHE/kbuild/$FLAVOUR-$KEY"
KMAKE=(make -s -C "$SRC" O="$OBJ" ARCH=x86_64 "${LLVM_ARGS[@]}"
       RUSTC="$RUSTC_KERNEL" HOSTRUSTC="$RUSTC_KERNEL" BINDGEN="$BINDGEN")

if [ -f "$OBJ/.afc-complete" ]; then
    log "reusing $FLAVOUR kernel in $OBJ"
    echo "$OBJ"; exit 0
fi

if ! [ -f "$SRC/.afc-unpacked" ]; then
    log "unpacking $KSRC_TARBALL into $SRC"
    rm -rf "$SRC" "$SRC.tmp"; mkdir -p "$SRC.tmp"
    tar -xf "$KSRC_TARBALL" -C "$SRC.tmp" --strip-components=1
    mv "$SRC.tmp" "$SRC"; touch "$SRC/.afc-unpacked"
fi

mkdir -p "$OBJ"
log "configuring $FLAVOUR kernel in $OBJ"
"${KMAKE[@]}" tinyconfig >/dev/null
( cd "$OBJ" && "$SRC/scripts/kconfig/merge_config.sh" -m -O "$OBJ" "$OBJ/.config" "${FRAGS[@]}" >/dev/null )
"${KMAKE[@]}" olddefconfig >/dev/null

# Every option the fragments ask for must have survived olddefconfig.
bad=()
while IFS= read -r line; do
    case "$line" in
    CONFIG_*=*) opt="${line%%=*}"; want="${line#*=}"
        got="$(grep -E "^$opt=" "$OBJ/.config" | cut -d= -f2- || true)"
        [ "$got" = "$want" ] || bad+=("$opt (wanted $want, got ${got:-unset})") ;;
    "# CONFIG_"*" is not set") opt="${line#\# }"; opt="${opt%% *}"
        grep -qE "^$opt=" "$OBJ/.config" && bad+=("$opt (wanted unset, got set)") ;;
    esac
done < <(cat "${FRAGS[@]}")
if ((${#bad[@]})); then
    printf '  %s\n' "${bad[@]}" >&2
    die "these options did not survive olddefconfig (see above); check their dependencies"
fi

log "building $FLAVOUR kernel with -j$JOBS (several minutes)"
start=$(date +%s)
"${KMAKE[@]}" -j"$JOBS" bzImage modules
log "built $FLAVOUR kernel in $(( $(date +%s) - start )) s"
touch "$OBJ/.afc-complete"
echo "$OBJ"
