#!/usr/bin/env python3
"""Instruction mix of the GEMM micro-kernel's inner K loop, read from objdump.

Usage: microkernel_mix.py OBJDUMP OBJECT_FILE
  e.g. microkernel_mix.py aarch64-linux-gnu-objdump build/aarch64/bench/microkernel_tu.o

For each micro-kernel instantiation in the object (bare and with a 5-op epilogue chain)
it finds the innermost loop with the most FMA instructions (a backward branch whose
body is straight-line code), and prints: instructions in the loop, FMA instructions,
FMA / all, and the vector registers the loop uses. On AArch64 the FMA is fmla; on
x86 vfmadd*. Exits 1 when a loop's FMA share is under --min-fma (default 0.75) or
when the chain's loop differs from the bare loop (the epilogue must add nothing to it).
The FMA-share bar is checked for AArch64 (fmla) only.
"""
import argparse
import re
import subprocess
import sys

FMA = re.compile(r"^\s*(fmla|vfmadd\d+ps|vfmadd\d+ss)\b")
BRANCH = re.compile(r"^\s*(b\.\w+|cbnz|cbz|tbnz|tbz|j\w+)\s+([0-9a-f]+)")
VREG = re.compile(r"\b(v\d+|q\d+|[xyz]mm\d+)\b")


def functions(text):
    name, body = None, []
    for line in text.splitlines():
        m = re.match(r"^[0-9a-f]+ <(.*)>:$", line)
        if m:
            if name:
                yield name, body
            name, body = m.group(1), []
        elif name and re.match(r"^\s+[0-9a-f]+:\s", line):
            addr, _, ins = line.strip().partition(":")
            body.append((int(addr, 16), ins.strip()))
    if name:
        yield name, body


def inner_loops(body):
    index = {a: i for i, (a, _) in enumerate(body)}
    for i, (_, ins) in enumerate(body):
        m = BRANCH.match(ins)
        if m and int(m.group(2), 16) in index and index[int(m.group(2), 16)] <= i:
            start = index[int(m.group(2), 16)]
            loop = body[start:i + 1]
            # innermost: no other backward branch inside
            inner = all(not (BRANCH.match(x) and int(BRANCH.match(x).group(2), 16) in index and
                             index[int(BRANCH.match(x).group(2), 16)] <= start + k)
                        for k, (_, x) in enumerate(loop[:-1]))
            if inner:
                yield [x for _, x in loop]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("objdump")
    ap.add_argument("object")
    ap.add_argument("--min-fma", type=float, default=0.75)
    args = ap.parse_args()
    text = subprocess.run([args.objdump, "-d", "--no-show-raw-insn", "-C", args.object], check=True,
                          capture_output=True, text=True).stdout
    ok, seen = True, {}
    for name, body in functions(text):
        if "micro_kernel<" not in name:
            continue
        loops = list(inner_loops(body))
        if not loops:
            continue
        loop = max(loops, key=lambda l: sum(bool(FMA.match(x)) for x in l))
        fma = sum(bool(FMA.match(x)) for x in loop)
        # q<n> and v<n> name the same AArch64 register; count numbers per register file
        regs = sorted({re.sub(r"^q", "v", r) for x in loop for r in VREG.findall(x)},
                      key=lambda r: (r[0], int(re.sub(r"\D", "", r))))
        chain = "Epilogue<>" not in name
        label = "with 5-op chain" if chain else "bare"
        kernel = re.search(r"micro_kernel<([^,]+), (\d+), (\d+), (\d+)", name)
        print(f"micro-kernel {kernel.group(1)} MR={kernel.group(2)} NV={kernel.group(3)} ({label}):")
        print(f"  inner K loop: {len(loop)} instructions, {fma} FMA, FMA share {fma / len(loop):.1%}")
        print(f"  vector registers used in the loop: {len(regs)} ({' '.join(regs)})")
        seen[chain] = [re.sub(r"\s+", " ", x) for x in loop]
        # The bar is for AArch64 (lane-indexed fmla); x86 broadcasts are separate
        # instructions or folded into the FMA at the compiler's choice.
        if "fmla" in " ".join(loop) and fma / len(loop) < args.min_fma:
            print(f"  FAIL: FMA share below {args.min_fma:.0%}")
            ok = False
    if True in seen and False in seen:
        same = len(seen[True]) == len(seen[False]) and \
            [x.split()[0] for x in seen[True]] == [x.split()[0] for x in seen[False]]
        print(f"epilogue adds no instruction to the inner K loop: {'yes' if same else 'NO'}")
        ok = ok and same
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
