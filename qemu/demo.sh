#!/bin/sh
# Guest side of `make run`: load the module and show it working.
set -e
echo "== insmod af_custom.ko"
insmod /afc/af_custom.ko
grep -i "af_custom\|PF_IRDA" /proc/net/protocols /proc/modules 2>/dev/null || true
echo "== demo"
/afc/tests/afc_demo
echo "== /proc/net/af_custom_stat"
cat /proc/net/af_custom_stat
echo "== rmmod"
rmmod af_custom
echo "module unloaded cleanly"
