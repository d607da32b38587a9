#!/bin/bash
# The Wireshark dissector (rust/userspace/wireshark/af_custom.lua) against
# frames the VM captured: the guest program `capture` prints its pcap
# base64 between AFC-PCAP-BEGIN and AFC-PCAP-END on the console
# (selftests/vm/capture.sh); tshark must decode every field as the
# exchange made them, find every checksum good, and find a byte we
# change bad.  Prints "dissector: passed=N failed=N skipped=N".
#
#   scripts/check-dissector.sh [CONSOLE_LOG]   (default build/vm-normal.log)
source "$(dirname "$0")/lib.sh"
LOG="${1:-$TOP/build/vm-normal.log}"
LUA="$TOP/rust/userspace/wireshark/af_custom.lua"
OUT="$TOP/build/dissector"; mkdir -p "$OUT"
if ! command -v tshark >/dev/null; then
    echo "# tshark not installed: the dissector test is skipped"
    echo "dissector: passed=0 failed=0 skipped=1"; exit 0
fi
sed -n '/^AFC-PCAP-BEGIN/,/^AFC-PCAP-END/p' "$LOG" | grep -av '^AFC-PCAP' | tr -d '\r' | base64 -d > "$OUT/capture.pcap" 2>/dev/null || true
python3 - "$OUT/capture.pcap" "$LUA" <<'PY'
import re, subprocess, sys, struct
pcap, lua = sys.argv[1], sys.argv[2]
passed = failed = 0

def check(ok, what):
    global passed, failed
    print(("ok - dissector." if ok else "not ok - dissector.") + what)
    if ok: passed += 1
    else: failed += 1

FIELDS = ["afc.version", "afc.flags", "afc.srcport", "afc.dstport", "afc.src", "afc.dst",
          "afc.seq", "afc.ack", "afc.len", "afc.window", "afc.mss", "afc.wscale",
          "afc.checksum.status", "afc.payload", "_ws.col.Info"]

def dissect(path):
    r = subprocess.run(["tshark", "-X", "lua_script:" + lua, "-o", "afc.check_checksum:TRUE",
                        "-r", path, "-T", "fields", "-E", "separator=|"] +
                       sum((["-e", f] for f in FIELDS), []),
                       capture_output=True, text=True)
    rows = [dict(zip(FIELDS, l.split("|"))) for l in r.stdout.splitlines() if l]
    return rows, r.stderr

try:
    data = open(pcap, "rb").read()
except OSError:
    data = b""
check(len(data) > 24, "capture_found_on_the_console")
rows, err = dissect(pcap) if data else ([], "")
check(len(rows) >= 6, f"frames_decoded ({len(rows)} frames{'; ' + err.strip() if 'rror' in err else ''})")
if rows:
    syn, synack = rows[0], rows[1] if len(rows) > 1 else {}
    check(all(r["afc.version"] == "1" for r in rows), "version_1")
    check(syn["afc.flags"] == "0x01" and syn["afc.dstport"] == "7000" and syn["afc.src"] == "10.78.0.2"
          and syn["afc.dst"] == "10.78.0.1" and int(syn["afc.mss"]) >= 64 and syn["afc.len"] == "0",
          "syn_fields")
    check(synack.get("afc.flags") == "0x03" and int(synack["afc.ack"]) == (int(syn["afc.seq"]) + 1) % 2**32,
          "syn_ack_acknowledges_the_syn")
    check(any(r["afc.payload"] == b"hello".hex() and r["afc.len"] == "5" and r["afc.srcport"] == syn["afc.srcport"]
              for r in rows), "client_payload")
    check(any(r["afc.payload"] == b"world".hex() and r["afc.srcport"] == "7000" for r in rows), "server_payload")
    check(sum(int(r["afc.flags"], 16) & 0x04 != 0 for r in rows) == 2, "a_fin_each_way")
    check(all(r["afc.checksum.status"] == "Good" for r in rows), "checksums_good_over_veth")
    check(re.fullmatch(r"\d+ → 7000 \[SYN\] Seq=\d+ Win=\d+ Len=0 MSS=\d+ WS=\d+", syn["_ws.col.Info"]) is not None,
          "info_column_like_tcp (" + syn["_ws.col.Info"] + ")")
    # Change one payload byte of the "hello" frame: its checksum must be bad.
    buf = bytearray(data)
    i = buf.find(b"hello")
    if i > 0:
        buf[i] ^= 0x20
        bad = pcap + ".corrupt"
        open(bad, "wb").write(buf)
        rows2, _ = dissect(bad)
        check(any(r["afc.checksum.status"].startswith("Bad") for r in rows2), "changed_byte_makes_a_bad_checksum")
    else:
        check(False, "changed_byte_makes_a_bad_checksum (no hello in the capture)")
print(f"dissector: passed={passed} failed={failed} skipped=0")
PY
