#!/bin/bash
# Builds the guest's initramfs (an uncompressed cpio) from busybox-static,
# the host's iproute2 `ip`, `tc` (netem-capable) and `ss` with the shared
# libraries they need, and the files given as SRC:DEST arguments.
#
#   qemu/mkinitramfs.sh OUT.cpio GUEST_SCRIPT [SRC:DEST ...]
#
# GUEST_SCRIPT becomes /afc/guest.sh, run by /init as root.
source "$(dirname "$0")/../scripts/lib.sh"

OUT="${1:?usage}"; GUEST="${2:?usage}"; shift 2
ROOT="$(mktemp -d)"; trap 'rm -rf "$ROOT"' EXIT
chmod 755 "$ROOT"
mkdir -p "$ROOT"/{bin,sbin,etc,proc,sys,dev,tmp,run,var/run,lib,lib64,usr/bin,usr/sbin,afc,root}
chmod 1777 "$ROOT/tmp"

cp /bin/busybox "$ROOT/bin/busybox"
for app in $(/bin/busybox --list); do
    [ "$app" = busybox ] && continue
    ln -sf busybox "$ROOT/bin/$app"
done

# A program with the shared libraries ldd names (none for a static one).
copy_with_libs() {
    local bin="$1" dest="$2"
    cp -L "$bin" "$ROOT$dest"
    { ldd "$bin" 2>/dev/null || true; } | { grep -oE '/[^ ]+' || true; } | while read -r lib; do
        mkdir -p "$ROOT$(dirname "$lib")"
        cp -Ln "$lib" "$ROOT$lib"
    done
}
# Busybox's own sh prefers its applets over PATH (so `ip` would be
# busybox's, without veth or netns); the host's dash honours PATH.
rm -f "$ROOT/bin/sh"
copy_with_libs /bin/dash /bin/sh
for tool in ip tc ss socat tcpdump; do
    path="$(command -v "$tool" || true)"
    [ -n "$path" ] || die "$tool not found on the host (Debian package iproute2)"
    rm -f "$ROOT/bin/$tool"
    copy_with_libs "$path" "/sbin/$tool"
done
# Python for afc.py's tests (selftests/python): the interpreter and the
# standard library without its tests, GUI, packaging and a few large
# packages no test imports (about 28 MB with the interpreter).
PY=/usr/bin/python3.11
if [ -x "$PY" ]; then
    copy_with_libs "$PY" /usr/bin/python3
    mkdir -p "$ROOT/usr/lib"
    rsync -a --exclude=test --exclude=tests --exclude=idlelib --exclude=tkinter --exclude=ensurepip \
        --exclude=lib2to3 --exclude=pydoc_data --exclude=dist-packages --exclude=site-packages \
        --exclude='config-3.11-*' --exclude=turtledemo --exclude=distutils --exclude='_test*.so' \
        /usr/lib/python3.11 "$ROOT/usr/lib/"
    for so in "$ROOT"/usr/lib/python3.11/lib-dynload/*.so; do
        { ldd "$so" 2>/dev/null || true; } | { grep -oE '/[^ ]+' || true; } | while read -r lib; do
            [ -e "$ROOT$lib" ] && continue
            mkdir -p "$ROOT$(dirname "$lib")"
            cp -Ln "$lib" "$ROOT$lib"
        done
    done
fi
# netem's distribution tables.
[ -d /usr/lib/tc ] && mkdir -p "$ROOT/usr/lib" && cp -r /usr/lib/tc "$ROOT/usr/lib/tc"

for spec in "$@"; do
    src="${spec%%:*}"; dst="${spec#*:}"
    mkdir -p "$ROOT$(dirname "$dst")"
    copy_with_libs "$src" "$dst"
done

# Users that tools look up by name (tcpdump drops to its own user).
printf 'root:x:0:0:root:/root:/bin/sh\ntcpdump:x:104:104::/nonexistent:/bin/false\nnobody:x:65534:65534::/nonexistent:/bin/false\n' > "$ROOT/etc/passwd"
printf 'root:x:0:\ntcpdump:x:104:\nnogroup:x:65534:\n' > "$ROOT/etc/group"
cp "$GUEST" "$ROOT/afc/guest.sh"
cat > "$ROOT/init" <<'INIT'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs tmpfs /run
mkdir -p /run/netns /var/run
mount -t tmpfs tmpfs /tmp
ip link set lo up
export PATH=/afc/bin:/sbin:/bin:/usr/sbin:/usr/bin
echo "AFC-GUEST-START ncpu=$(grep -c ^processor /proc/cpuinfo)"
sh /afc/guest.sh
echo "AFC-EXIT: $?"
reboot -f
INIT
chmod +x "$ROOT/init" "$ROOT/afc/guest.sh"
( cd "$ROOT" && find . -print0 | cpio --null -o -H newc --quiet ) > "$OUT"
