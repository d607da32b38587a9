#!/usr/bin/env python3
"""Instructions per unit of work, from a `BENCH_ICOUNT=1 make bench` run.

The QEMU plugin (bench/icount_plugin.c) prints `AFC-ICOUNT window=N
insns=I` (and, with BENCH_ICOUNT=mem, `mem=`, `pages=`, `tlbmiss=`) on the console when a measured window closes and writes the
window's executed blocks to build/icount-<cpus>/w.N; the guest then echoes
the run's RESULT line.  This pairs them.

    scripts/icount-report.py [LOG]
        per test, family and link: the median instructions per transaction
        (rr, rr-nagle, t-rr, t-rr-nodelay), per connection (crr, t-crr) or
        per KiB (stream, t-stream), min-max over the repetitions, and the
        ratio to TCP's.
    scripts/icount-report.py [LOG] --diff TEST NET [FAM_A FAM_B] [--top N]
        the two families' windows of TEST on NET (every repetition summed),
        by symbol, in instructions per unit: kernel symbols from the
        kernel's System.map, the module's from its .ko (nm) and where the
        guest loaded it, user space as one line.  FAM_A and FAM_B default
        to custom and inet; "base" needs --base-ko. With --blocks, hot
        blocks (run at least once per two units) by symbol instead of
        instructions, the measure a transaction's time follows (session 25).
    scripts/icount-report.py [LOG] --blocks-of SYMBOL TEST NET [FAM]
        the hot blocks of one module function (FAM custom or base) or
        kernel symbol: offset from the symbol, instructions, runs per unit;
        read beside `objdump -d` of the .ko or vmlinux.

Run from the repository's top; LOG defaults to build/vm-bench.log.
"""
import bisect
import collections
import os
import re
import statistics
import subprocess
import sys

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UNITS = [("txns", 1, "transaction"), ("conns", 1, "connection"), ("bytes", 1024, "KiB")]


def parse(log):
    """Yields (result fields, window number, instructions, module text) in console order."""
    pending = None
    modtext = {}
    with open(log, "rb") as f:
        for raw in f:
            line = raw.decode("utf-8", "replace").strip().replace("\r", "")
            m = re.search(r"AFC-ICOUNT window=(\d+) insns=(\d+)(.*)", line)
            if m:
                extra = dict(kv.split("=", 1) for kv in m.group(3).split() if "=" in kv)
                pending = (int(m.group(1)), int(m.group(2)), {k: int(v) for k, v in extra.items()})
                continue
            m = re.search(r"AFC-ICOUNT-CLASSES window=(\d+)(.*)", line)
            if m and pending and pending[0] == int(m.group(1)):
                pending[2].update({k: int(v) for k, v in (kv.split("=", 1) for kv in m.group(2).split())})
                continue
            m = re.match(r"AFC-BENCH-MODTEXT (\S+) (0x[0-9a-f]+)", line)
            if m:
                modtext[m.group(1)] = int(m.group(2), 16)
                continue
            if line.startswith("RESULT ") and pending:
                fields = dict(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv)
                fields.update({"icount." + k: v for k, v in pending[2].items()})
                yield fields, pending[0], pending[1], dict(modtext)
                pending = None
            elif line.startswith("("):
                pending = None


def unit_of(fields):
    for key, div, name in UNITS:
        if key in fields:
            return float(fields[key]) / div, name
    return None, None


MEM = (("mem", "data accesses"), ("pages", "pages in the run"), ("tlbmiss", "TLB misses (model)"))


def window_path(log, window):
    return os.path.join(os.path.dirname(log), "icount-" + ("2" if "2cpu" in log else "1"), f"w.{window}")


def footprint(log, window, n):
    """The blocks that ran at least once per two units, and their instructions."""
    blocks = insns = 0
    try:
        with open(window_path(log, window)) as f:
            for line in f:
                _, k, runs = line.split()
                if int(runs) * 2 >= n:
                    blocks += 1
                    insns += int(k)
    except OSError:
        return None
    return blocks, insns


def summary(log):
    cells = collections.defaultdict(list)
    mem = collections.defaultdict(list)
    foot = collections.defaultdict(list)
    classes = collections.defaultdict(lambda: collections.defaultdict(list))
    names = {}
    for fields, window, insns, _ in parse(log):
        n, name = unit_of(fields)
        if not n:
            continue
        key = (fields.get("test"), fields.get("net"), fields.get("fam"))
        cells[key].append(insns / n)
        for k, v in fields.items():
            if k.startswith("icount.cls."):
                classes[key][k[len("icount.cls."):]].append(v / n)
        fp = footprint(log, window, n)
        if fp:
            foot[key].append(fp)
        if "icount.mem" in fields:
            mem[key].append(tuple(fields["icount." + k] / (1 if k == "pages" else n) for k, _ in MEM))
        names[key[:2]] = name
    print(f"{'test':14} {'net':5} {'family':7} {'instructions per unit, median (min-max)':44} ratio to TCP")
    for key in sorted(cells):
        v = cells[key]
        med = statistics.median(v)
        tcp = cells.get((key[0], key[1], "inet"))
        ratio = f"{med / statistics.median(tcp):.3f}x" if tcp else ""
        cell = f"{med:,.0f} ({min(v):,.0f}-{max(v):,.0f}) per {names[key[:2]]}"
        print(f"{key[0]:14} {key[1]:5} {key[2]:7} {cell:44} {ratio}")
    if foot:
        # On this host a transaction's time has followed its hot code
        # (session 25: TCP, AF_CUSTOM and AF_UNIX in threads rr), not the
        # instructions it executes.
        print(f"\n{'test':14} {'net':5} {'family':7} {'hot blocks':>12} {'ratio':>7} {'their instructions':>20} {'ratio':>7}"
              "   (blocks run at least once per two units; medians)")
        for key in sorted(foot):
            b = statistics.median(x[0] for x in foot[key])
            i = statistics.median(x[1] for x in foot[key])
            tcp = foot.get((key[0], key[1], "inet"))
            rb = f"{b / statistics.median(x[0] for x in tcp):.3f}x" if tcp else ""
            ri = f"{i / statistics.median(x[1] for x in tcp):.3f}x" if tcp else ""
            print(f"{key[0]:14} {key[1]:5} {key[2]:7} {b:12,.0f} {rb:>7} {i:20,.0f} {ri:>7}")
    if classes:
        names = sorted({c for d in classes.values() for c in d})
        print(f"\n{'test':14} {'net':5} {'family':7} " + " ".join(f"{c[:10]:>10}" for c in names) + "   (medians per unit)")
        for key in sorted(classes):
            print(f"{key[0]:14} {key[1]:5} {key[2]:7} " + " ".join(
                f"{statistics.median(classes[key][c]) if classes[key][c] else 0:10,.1f}" for c in names))
    if mem:
        print(f"\n{'test':14} {'net':5} {'family':7} " + " ".join(f"{d:>20}" for _, d in MEM) + "   (medians per unit; pages: all of a run's)")
        for key in sorted(mem):
            meds = [statistics.median(x[i] for x in mem[key]) for i in range(len(MEM))]
            print(f"{key[0]:14} {key[1]:5} {key[2]:7} " + " ".join(f"{m:20,.1f}" for m in meds))


class Symbols:
    def __init__(self, base_ko):
        self.kaddr, self.kname = [], []
        with open(self.kernel_map()) as f:
            for line in f:
                a, t, name = line.split()[:3]
                if t.lower() in "tw":
                    self.kaddr.append(int(a, 16))
                    self.kname.append(name)
        self.mods = {}
        kos = {"custom": os.environ.get("ICOUNT_KO", os.path.join(TOP, "build/module-normal/af_custom.ko"))}
        if base_ko:
            kos["base"] = base_ko
        for fam, ko in kos.items():
            out = subprocess.run(["objdump", "-t", "-C", ko], capture_output=True, text=True, check=True).stdout
            funcs = []
            for line in out.splitlines():
                m = re.match(r"([0-9a-f]+) .{6}F \.text\t[0-9a-f]+ (.*)", line)
                if m:
                    funcs.append((int(m.group(1), 16), m.group(2)))
            funcs.sort()
            addr, name = [a for a, _ in funcs], [n for _, n in funcs]
            self.mods[fam] = (addr, name)

    @staticmethod
    def kernel_map():
        kobj = subprocess.run([os.path.join(TOP, "scripts/build-kernel.sh"), "normal"], capture_output=True,
                              text=True, check=True).stdout.strip()
        return os.path.join(kobj, "System.map")

    def name(self, vaddr, modtext, fam):
        return self.locate(vaddr, modtext, fam)[0]

    def locate(self, vaddr, modtext, fam):
        """The symbol `vaddr` is in, and the symbol's address in the guest."""
        if vaddr < 1 << 63:
            return "[user]", 0
        text = modtext.get("af_custom_base" if fam == "base" else "af_custom")
        if fam in self.mods and text and text <= vaddr < text + 0x100000:
            addr, name = self.mods[fam]
            i = bisect.bisect_right(addr, vaddr - text) - 1
            return ("[af_custom] " + name[i], text + addr[i]) if i >= 0 else ("[af_custom] ?", text)
        i = bisect.bisect_right(self.kaddr, vaddr) - 1
        return (self.kname[i], self.kaddr[i]) if i >= 0 else ("?", 0)


def window_blocks(log, window):
    """A window's executed blocks: (address, instructions, runs)."""
    with open(window_path(log, window)) as f:
        for line in f:
            a, insns, runs = line.split()
            yield int(a, 16), int(insns), int(runs)


def cell_windows(log, test, net, fam):
    """The windows of one cell (test, link, family): each one's units
    (None when its result counts none), where the module was loaded, and
    its blocks (read when asked for)."""
    for fields, window, _, modtext in parse(log):
        if (fields.get("test"), fields.get("net"), fields.get("fam")) == (test, net, fam):
            yield unit_of(fields)[0], modtext, window_blocks(log, window)


def by_symbol(log, test, net, fam, syms):
    total = collections.Counter()
    units = 0.0
    for n, modtext, blocks in cell_windows(log, test, net, fam):
        units += n or 0
        for vaddr, insns, runs in blocks:
            total[syms.name(vaddr, modtext, fam)] += insns * runs
    return total, units


def hot_by_symbol(log, test, net, fam, syms):
    """Hot blocks by symbol, summed over the windows, and the window count
    (as the unit count: `diff` divides by it)."""
    total = collections.Counter()
    windows = 0
    for n, modtext, blocks in cell_windows(log, test, net, fam):
        if not n:
            continue
        windows += 1
        for vaddr, _, runs in blocks:
            if runs * 2 >= n:
                total[syms.name(vaddr, modtext, fam)] += 1
    return total, windows


def blocks_of(log, symbol, test, net, fam, base_ko):
    """The hot blocks of one symbol, by offset from its start."""
    syms = Symbols(base_ko)
    rows = collections.defaultdict(lambda: [0, 0.0, 0])
    for n, modtext, blocks in cell_windows(log, test, net, fam):
        if not n:
            continue
        for vaddr, insns, runs in blocks:
            name, start = syms.locate(vaddr, modtext, fam)
            bare = name[len("[af_custom] "):] if name.startswith("[af_custom] ") else name
            if not (bare == symbol or bare.endswith("::" + symbol)) or runs * 2 < n:
                continue
            r = rows[(bare, vaddr - start)]
            r[0] = insns
            r[1] += runs / n
            r[2] += 1
    if not rows:
        sys.exit(f"no hot blocks of {symbol} in {test} on {net} ({fam})")
    print(f"{symbol}: {len(rows)} hot blocks in {test} on {net} ({fam})")
    print(f"{'offset':>8} {'insns':>6} {'runs per unit':>14}  symbol")
    for name, off in sorted(rows):
        k, runs, w = rows[(name, off)]
        print(f"{off:#8x} {k:6} {runs / w:14.2f}  {name}")


def diff(log, test, net, fam_a, fam_b, top, base_ko, blocks=False):
    syms = Symbols(base_ko)
    count = hot_by_symbol if blocks else by_symbol
    a, ua = count(log, test, net, fam_a, syms)
    b, ub = count(log, test, net, fam_b, syms)
    if not ua or not ub:
        sys.exit(f"no windows of {test} on {net} for both {fam_a} and {fam_b}")
    pa = {k: v / ua for k, v in a.items()}
    pb = {k: v / ub for k, v in b.items()}
    ta, tb = sum(pa.values()), sum(pb.values())
    what = "hot blocks per window" if blocks else "instructions per unit"
    print(f"{test} on {net}: {what}, {fam_a} {ta:,.0f}, {fam_b} {tb:,.0f} ({ta / tb:.3f}x)")
    groups = collections.Counter()
    for d, fam in ((pa, "a"), (pb, "b")):
        for k, v in d.items():
            g = "user" if k == "[user]" else "module" if k.startswith("[af_custom]") else "kernel"
            groups[(g, fam)] += v
    for g in ("user", "kernel", "module"):
        print(f"  {g:8} {groups[(g, 'a')]:10,.0f} {groups[(g, 'b')]:10,.0f}")
    print(f"\n{'symbol':50} {fam_a:>10} {fam_b:>10} {'a-b':>10}")
    keys = sorted(set(pa) | set(pb), key=lambda k: -abs(pa.get(k, 0) - pb.get(k, 0)))
    for k in keys[:top]:
        x, y = pa.get(k, 0), pb.get(k, 0)
        print(f"{k[:50]:50} {x:10,.0f} {y:10,.0f} {x - y:10,.0f}")
    print(f"\nlargest in {fam_a}:")
    for k, v in sorted(pa.items(), key=lambda kv: -kv[1])[:top]:
        print(f"{k[:50]:50} {v:10,.0f}")


def main(argv):
    log = os.path.join(TOP, "build/vm-bench.log")
    top, base_ko = 40, None
    if "--top" in argv:
        i = argv.index("--top")
        top = int(argv[i + 1])
        del argv[i:i + 2]
    if "--base-ko" in argv:
        i = argv.index("--base-ko")
        base_ko = argv[i + 1]
        del argv[i:i + 2]
    if argv and not argv[0].startswith("--"):
        log = argv.pop(0)
    blocks = "--blocks" in argv
    if blocks:
        argv.remove("--blocks")
    if argv and argv[0] == "--blocks-of":
        rest = argv[1:]
        if len(rest) == 3:
            rest.append("custom")
        if len(rest) != 4:
            sys.exit(__doc__)
        blocks_of(log, rest[0], rest[1], rest[2], rest[3], base_ko)
    elif argv and argv[0] == "--diff":
        rest = argv[1:]
        if len(rest) == 2:
            rest += ["custom", "inet"]
        if len(rest) != 4:
            sys.exit(__doc__)
        diff(log, rest[0], rest[1], rest[2], rest[3], top, base_ko, blocks)
    else:
        summary(log)


if __name__ == "__main__":
    main(sys.argv[1:])
