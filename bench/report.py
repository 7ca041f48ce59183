#!/usr/bin/env python3
"""Runs sinter's benchmark suite and renders docs/bench-report.md and docs/bench-chart.png.

    python3 bench/report.py --build build/avx512 --quick    # a few minutes on 2 cores
    python3 bench/report.py --build build/board --full      # every shape, 5 repetitions
    python3 bench/report.py --render-only                   # tables and chart from kept JSON

The binaries must be built first (cmake --build <dir> --target sinter_benches, or the
targets listed in SUITE); the peers (bench_conv_onednn, bench_conv_xnnpack) are used
when they were built. Each binary runs pinned to one CPU (--cpu, default 1 where the
machine has more than one; taskset), single-threaded (OMP_NUM_THREADS=1), one after the
other; bench_machine runs first and its FMA peak and DRAM triad bandwidth are passed
to the others (SINTER_BENCH_PEAK_GFLOPS, SINTER_BENCH_DRAM_GBS) so every %peak and %bw
divides by the same values. Google Benchmark's JSON (repetitions, aggregates only) is
kept in --json-dir; the report quotes medians over the repetitions, and ratios measured
inside one benchmark (the variants of a layer run alternately in every iteration).

Needs Python 3.9 and, for the chart, matplotlib (Debian: python3-matplotlib).
"""

import argparse
import datetime
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# (binary, filter in quick mode (None: everything), min time per repetition in quick
# mode (s)). The full mode runs every benchmark with FULL_MIN_TIME. The fusion and chain
# binaries are few benchmarks of many variants each: longer runs, still seconds.
SUITE = [
    ("bench_machine", None, 0.05),
    ("bench_conv", "^(resnet18|mobilenet_v1|motivating|ksweep)/", 0.05),
    ("bench_fusion", None, 0.3),
    ("bench_chain_conv", None, 0.3),
    ("bench_chain_depthwise", None, 0.3),
    ("bench_separable", None, 0.1),
    ("bench_conv_onednn", "^(resnet18|mobilenet_v1)/", 0.05),
    ("bench_conv_xnnpack", "^(resnet18|mobilenet_v1)/", 0.05),
]
FULL_MIN_TIME = 0.5

REPETITIONS = {"quick": 3, "full": 5}


# ---------------------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------------------

def run_suite(args, json_dir):
    reps = REPETITIONS[args.mode]
    bench_dir = Path(args.build) / "bench"
    if not bench_dir.is_dir():
        sys.exit(f"report.py: {bench_dir} does not exist: configure and build the benchmarks first "
                 f"(cmake --build {args.build} --target sinter_benches)")
    json_dir.mkdir(parents=True, exist_ok=True)
    pin = []
    if args.cpu is not None and args.cpu >= 0 and shutil.which("taskset"):
        pin = ["taskset", "-c", str(args.cpu)]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None
    ran = []
    for name, quick_filter, quick_min_time in SUITE:
        if args.only and name not in args.only:
            continue
        exe = bench_dir / name
        if not exe.exists():
            print(f"report.py: {name} not built, skipped", file=sys.stderr)
            continue
        flt = quick_filter if args.mode == "quick" else None
        min_time = quick_min_time if args.mode == "quick" else FULL_MIN_TIME
        out = json_dir / f"{name}.json"
        cmd = pin + [str(exe), f"--benchmark_out={out}", "--benchmark_out_format=json",
                     f"--benchmark_repetitions={reps}", "--benchmark_report_aggregates_only=true",
                     f"--benchmark_min_time={min_time}"]
        if flt:
            cmd.append(f"--benchmark_filter={flt}")
        print("report.py:", " ".join(cmd), flush=True)
        t0 = time.time()
        res = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL if not args.verbose else None)
        print(f"report.py: {name}: {time.time() - t0:.0f} s, exit {res.returncode}", flush=True)
        if res.returncode != 0:
            print(f"report.py: {name} failed (exit {res.returncode})", file=sys.stderr)
            continue
        ran.append(name)
        if name == "bench_machine":
            peak, triad = machine_limits(load(out))
            if peak:
                env["SINTER_BENCH_PEAK_GFLOPS"] = f"{peak:.3f}"
            if triad:
                env["SINTER_BENCH_DRAM_GBS"] = f"{triad:.3f}"
    meta = {
        "mode": args.mode, "repetitions": reps,
        "min_time_s": (str(FULL_MIN_TIME) if args.mode == "full" else
                       f"{min(t for _, _, t in SUITE)} to {max(t for _, _, t in SUITE)}"),
        "pinned_cpu": args.cpu if pin else None, "build": str(args.build),
        "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "load_avg_before": load_before,
        "cpu_model": cpu_model(), "machine": platform.machine(), "caches": caches(), "ran": ran,
    }
    (json_dir / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")


def caches():
    """Data / unified cache sizes as the C library reports them (getconf), e.g. {'L1d': 49152}."""
    out = {}
    try:
        text = subprocess.run(["getconf", "-a"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return out
    for line in text.splitlines():
        m = re.match(r"LEVEL(\d)_(DCACHE|CACHE)_SIZE\s+(\d+)", line)
        if m and int(m.group(3)) > 0:
            out[f"L{m.group(1)}{'d' if m.group(2) == 'DCACHE' else ''}"] = int(m.group(3))
    return out


def cpu_model():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("model name", "Hardware", "Model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


# ---------------------------------------------------------------------------------------
# Reading Google Benchmark's JSON
# ---------------------------------------------------------------------------------------

def load(path):
    """{run_name: {counter or 'cpu_time': median}, '_context': context, '_labels': {...}}."""
    path = Path(path)
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    rows, labels = {}, {}
    for b in data.get("benchmarks", []):
        name = re.sub(r"/(min_time|repeats|iterations):[0-9.]+", "", b.get("run_name", b["name"]))
        if b.get("error_occurred"):
            rows.setdefault(name, {})["error"] = b.get("error_message", "error")
            continue
        if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
            continue
        vals = {k: v for k, v in b.items() if isinstance(v, (int, float)) and k not in (
            "family_index", "per_family_instance_index", "repetitions", "repetition_index", "threads")}
        rows[name] = vals
        if b.get("label"):
            labels[name] = b["label"]
    rows["_context"] = data.get("context", {})
    rows["_labels"] = labels
    return rows


def machine_limits(m):
    """(kernel arch peak GFLOP/s, DRAM triad GB/s) from bench_machine's rows."""
    if not m:
        return None, None
    peak = None
    for name, r in m.items():
        if name.startswith("BM_fma_peak/") and r.get("kernel_arch") == 1:
            peak = r.get("GFLOP/s")
    triad = m.get("BM_stream/triad/dram", {}).get("GB/s")
    return peak, triad


def roofline_us(r, variant, peak, bw):
    """max(FLOPs / peak, bytes / bandwidth) in microseconds for a variant's counters."""
    us, gf, gb = r.get(f"{variant}:us"), r.get(f"{variant}:GFLOP/s"), r.get(f"{variant}:GB/s")
    if not (us and gf and gb and peak and bw):
        return None
    flops, nbytes = gf * us * 1e3, gb * us * 1e3
    return max(flops / (peak * 1e3), nbytes / (bw * 1e3))


def geomean(xs):
    xs = [x for x in xs if x and x > 0]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def f(x, nd=1, pct=False):
    if x is None:
        return "-"
    return f"{x:.{nd}f}%" if pct else f"{x:.{nd}f}"


def layer_of(name):
    """'resnet18/conv3x3_s1_56x56x64-64' -> ('resnet18', 'conv3x3_s1_56x56x64-64')."""
    return tuple(name.split("/", 1)) if "/" in name else ("", name)


# ---------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------

def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def render(json_dir, report_path, chart_path):
    meta_path = json_dir / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    B = {name: load(json_dir / f"{name}.json") for name, _, _ in SUITE}
    md = []
    md.append("# sinter benchmark report\n")
    md.append(f"Produced by `python3 bench/report.py --{meta.get('mode', '?')}` on {meta.get('date', '?')} "
              f"(build `{meta.get('build', '?')}`). Single thread, pinned to CPU {meta.get('pinned_cpu')}; "
              f"{meta.get('repetitions', '?')} repetitions of at least {meta.get('min_time_s', '?')} s each, "
              "**medians** over the repetitions. Within a benchmark the variants (bare, fused, unfused, "
              "other algorithms, peers) run alternately in every iteration and are timed with the thread's "
              "CPU clock, so their **ratios** share the machine's load; prefer them to absolute figures "
              f"when the machine is shared (load average before the run: "
              f"{', '.join(f'{x:.1f}' for x in meta.get('load_avg_before') or [])}). "
              "Raw Google Benchmark JSON: `docs/bench/`.\n")

    # Machine -----------------------------------------------------------------------------
    m = B["bench_machine"]
    peak, triad = machine_limits(m)
    md.append("## Machine\n")
    ctx = (m or {}).get("_context", {})
    cache_list = [f"{k} {v // 1024} KiB" if v < 1 << 20 else f"{k} {v / (1 << 20):.0f} MiB"
                  for k, v in (meta.get("caches") or {}).items()]
    lines = [f"- CPU: {meta.get('cpu_model', '?')} ({meta.get('machine', '?')}), {ctx.get('num_cpus', '?')} CPUs, "
             f"{ctx.get('mhz_per_cpu', '?')} MHz nominal; caches (getconf): {', '.join(cache_list) or '?'}"]
    if m:
        arch = [(n.split("/", 1)[1], r) for n, r in m.items() if n.startswith("BM_fma_peak/")]
        kernel = [a for a, r in arch if r.get("kernel_arch") == 1]
        lines.append(f"- ISA of the kernels: {kernel[0] if kernel else '?'}")
        lines.append("- Single-core FMA peak (GFLOP/s, best ~1 ms chunk): " +
                     ", ".join(f"{a} {f(r.get('GFLOP/s'))}" for a, r in arch) +
                     f" — the %peak denominator is {f(peak)}")
        sr = lambda k: m.get(f"BM_stream/{k}", {}).get("GB/s")
        lines.append(f"- Single-core memory bandwidth (GB/s, best pass, arrays of "
                     f"{f(m.get('BM_stream/triad/dram', {}).get('MiB/array'), 0)} MiB): read {f(sr('read/dram'))}, "
                     f"write {f(sr('write/dram'))}, triad {f(sr('triad/dram'))} (the %bw denominator); "
                     f"cache-resident (0.25 MiB): read {f(sr('read/cache'))}, write {f(sr('write/cache'))}, "
                     f"triad {f(sr('triad/cache'))}")
    md.append("\n".join(lines) + "\n")

    # Bars ----------------------------------------------------------------------------------
    bars = []
    xo, xx = B["bench_conv_onednn"], B["bench_conv_xnnpack"]
    cv, fu = B["bench_conv"], B["bench_fusion"]
    cc, cd = B["bench_chain_conv"], B["bench_chain_depthwise"]

    def rows_of(b, prefixes=("resnet18/", "mobilenet_v1/")):
        return {n: r for n, r in (b or {}).items() if n.startswith(prefixes) and "error" not in r}

    if xx:
        rs = rows_of(xx)
        wins = [n for n, r in rs.items() if r.get("sinter/xnnpack:fused", 9) < 1]
        bars.append(("fused conv faster than XNNPACK (same chain) on every ResNet-18 / MobileNet-v1 shape",
                     f"{len(wins)} of {len(rs)} shapes", len(rs) > 0 and len(wins) == len(rs)))
    if xo:
        g = geomean([r.get("sinter/onednn:fused") for r in rows_of(xo).values()])
        bars.append(("fused conv at least as fast as oneDNN's post-op chain, geomean over ResNet-18 + MobileNet-v1",
                     f"sinter/oneDNN time {f(g, 3)}", g is not None and g <= 1))
    if cc:
        pc = cc.get("BM_chain/conv3x3_s1_56x56x64-64/per_channel", {}).get("per_op")
        te = cc.get("BM_chain/conv3x3_s1_56x56x64-64/tensor", {}).get("per_op")
        bars.append(("chain sweep, 56x56x64->64 conv: <= 1% per per-channel op", f(pc and pc * 100, 2, True),
                     pc is not None and pc <= 0.01))
        bars.append(("chain sweep, 56x56x64->64 conv: <= 3% per tensor op", f(te and te * 100, 2, True),
                     te is not None and te <= 0.03))
    if fu:
        for lay in ("dw3x3_s1_112x112x32", "pw_56x56x64-256"):
            r = fu.get(f"BM_unfused/{lay}", {})
            bw = r.get("fused:%bw")
            rl = roofline_us(r, "fused", peak, triad)
            cap = rl and r.get("fused:GB/s") and triad and (
                100 * r["fused:GB/s"] * r["fused:us"] / rl / triad)
            note = f" (the roofline caps it at {f(cap, 0, True)} here)" if cap and cap < 95 else ""
            bars.append((f"{lay}: fused layer's achieved bandwidth >= 80% of DRAM triad", f(bw, 0, True) + note,
                         bw is not None and bw >= 80))
            u = r.get("unfused/fused")
            bars.append((f"{lay}: unfused / fused >= 1.3 (scale, shift, residual, ReLU)", f(u, 2),
                         u is not None and u >= 1.3))
    if cv:
        for lay in ("mobilenet_v1/pw_14x14x512-512", "mobilenet_v1/pw_56x56x128-128"):
            p = cv.get(lay, {}).get("bare:%peak")
            bars.append((f"issue 4: pointwise {lay.split('/')[1]} >= 85% of peak", f(p, 0, True),
                         p is not None and p >= 85))
    if bars:
        md.append("## Bars (issue 5)\n")
        md.append(table(["bar", "measured", "met"], [(a, b, "yes" if c else "**no**") for a, b, c in bars]) + "\n")

    # Kernels per shape set ---------------------------------------------------------------------
    if cv:
        md.append("## Kernels per shape set (bench_conv)\n")
        md.append("`bare`: the layer alone with algo::Automatic (conv: the algorithm it picks), `fused`: with "
                  "scale, shift (per channel), residual (tensor) and ReLU in the epilogue. GFLOP/s are direct-"
                  "convolution FLOPs (effective for Winograd). GB/s: input + weights + output (+ operands). "
                  "%bw only for memory-bound kinds (depthwise, small-M linear); data that fits in the caches "
                  "can exceed 100%.\n")
        sets = []
        for n in cv:
            s, _ = layer_of(n)
            if s and not n.startswith("_") and s not in sets:
                sets.append(s)
        for s in sets:
            rows = []
            for n, r in cv.items():
                if not n.startswith(s + "/"):
                    continue
                if "error" in r:
                    rows.append((layer_of(n)[1], "error: " + r["error"]) + ("",) * 8)
                    continue
                algo = cv["_labels"].get(n, "").replace("auto=", "")
                wi = r.get("im2col/winograd")
                rows.append((layer_of(n)[1], algo, f(r.get("bare:GFLOP/s")), f(r.get("bare:%peak"), 0, True),
                             f(r.get("bare:GB/s")), f(r.get("bare:%bw"), 0, True) if "bare:%bw" in r else "",
                             f(r.get("fused:GFLOP/s")), f(r.get("fused/bare"), 3),
                             f(r.get("im2col:GFLOP/s")) + " / " + f(r.get("winograd:GFLOP/s")) if wi else "",
                             f(wi, 2) if wi else ""))
            md.append(f"### {s}\n")
            md.append(table(["layer", "algo", "bare GFLOP/s", "%peak", "GB/s", "%bw", "fused GFLOP/s",
                             "fused/bare", "im2col / winograd GFLOP/s", "winograd speedup"], rows) + "\n")

    # Peers ------------------------------------------------------------------------------------
    for key, peer, title in (("bench_conv_onednn", "onednn", "oneDNN (post-ops)"),
                             ("bench_conv_xnnpack", "xnnpack", "XNNPACK (clamp + element-wise operators)")):
        b = B[key]
        if not b:
            continue
        md.append(f"## sinter vs {title} ({key})\n")
        md.append(f"Same input, weights and chain (scale, shift per channel, residual, ReLU); outputs checked "
                  f"equal (max relative difference in `err`). Ratios are **our time / theirs** "
                  f"(< 1: sinter faster), measured alternately in the same iterations.\n")
        rows, gb, gf = [], {}, {}
        for n, r in b.items():
            if n.startswith("_"):
                continue
            s, lay = layer_of(n)
            if "error" in r:
                rows.append((s, lay, "error: " + r["error"]) + ("",) * 7)
                continue
            rb, rf = r.get(f"sinter/{peer}:bare"), r.get(f"sinter/{peer}:fused")
            gb.setdefault(s, []).append(rb)
            gf.setdefault(s, []).append(rf)
            rows.append((s, lay, f(r.get("sinter_bare:GFLOP/s")), f(r.get(f"{peer}_bare:GFLOP/s")),
                         f(r.get(f"{peer}_bare:%peak"), 0, True), f(rb, 2), f(rf, 2),
                         f(r.get("sinter:fused/bare"), 2), f(r.get(f"{peer}:fused/bare"), 2),
                         f"{max(r.get('err_bare', 0), r.get('err_fused', 0)):.1e}"))
        for s in gb:
            rows.append((s, "**geomean**", "", "", "", f(geomean(gb[s]), 2), f(geomean(gf[s]), 2), "", "", ""))
        label = {"onednn": "oneDNN", "xnnpack": "XNNPACK"}[peer]
        md.append(table(["set", "layer", "sinter GFLOP/s", f"{label} GFLOP/s", f"{label} %peak",
                         "time ratio bare", "time ratio fused", "sinter fused/bare", f"{label} fused/bare", "err"],
                        rows) + "\n")
        for kind in ("bare", "fused"):
            ratios = {n: r.get(f"sinter/{peer}:{kind}") for n, r in b.items()
                      if not n.startswith("_") and "error" not in r}
            lose = sorted((v, n) for n, v in ratios.items() if v and v > 1.05)
            win = [n for n, v in ratios.items() if v and v < 0.95]
            md.append(f"- {kind}: sinter faster (ratio < 0.95) on {len(win)} of {len(ratios)} layers; slower "
                      f"(> 1.05) on {len(lose)}" + (": " + ", ".join(f"{n} ({v:.2f})" for v, n in reversed(lose))
                                                     if lose else "") + "\n")
        impls = sorted(set(b["_labels"].values()))
        if impls:
            md.append(f"{label} implementations used: {', '.join(impls)}.\n")

    # Chain sweep --------------------------------------------------------------------------------
    for b, title in ((cc, "conv 3x3 56x56x64->64 (bench_chain_conv)"),
                     (cd, "depthwise 3x3 112x112x32 (bench_chain_depthwise)")):
        if not b:
            continue
        md.append(f"## Chain length sweep: {title}\n")
        md.append("Time with N ops fused / time of the bare layer, same run. Ops alternate mul and add, each "
                  "with its own operand; `per op`: least-squares slope.\n")
        rows = []
        for n, r in b.items():
            if n.startswith("_") or "error" in r:
                continue
            rows.append([n.rsplit("/", 1)[1], f(r.get("len0:us"))] +
                        [f(r.get(f"len{i}/len0"), 3) for i in range(1, 9)] + [f(r.get("per_op", 0) * 100, 2, True)])
        md.append(table(["operand", "bare us"] + [f"{i}" for i in range(1, 9)] + ["per op"], rows) + "\n")

    # Fused vs unfused ----------------------------------------------------------------------------
    if fu:
        md.append("## Fused vs unfused (bench_fusion)\n")
        md.append("Chain: scale, shift (per channel), residual (tensor), ReLU. `unfused`: bare layer then one "
                  "`s::elementwise` pass per op (in place); `1 pass`: bare layer then the chain as one pass. "
                  "GB/s and %bw count every byte the variant must move (operands included; unfused passes "
                  "re-read and re-write the output).\n")
        rows = []
        for n, r in fu.items():
            if not n.startswith("BM_unfused/") or "error" in r:
                continue
            rl = roofline_us(r, "fused", peak, triad)
            rows.append((n.split("/", 1)[1], f(r.get("bare:us")), f(r.get("fused:us")), f(r.get("unfused:us")),
                         f(r.get("unfused_1pass:us")), f(r.get("unfused/fused"), 2),
                         f(r.get("unfused_1pass/fused"), 2), f(r.get("fused/bare"), 2), f(r.get("fused:GB/s")),
                         f(r.get("fused:%bw"), 0, True), f(rl),
                         f(rl and r.get("fused:us") and 100 * rl / r["fused:us"], 0, True)))
        md.append(table(["layer", "bare us", "fused us", "unfused us", "1 pass us", "unfused/fused",
                         "1 pass/fused", "fused/bare", "fused GB/s", "fused %bw", "roofline us",
                         "fused % of roofline"], rows) + "\n")
        md.append("`roofline us` = max(FLOPs / peak, bytes / DRAM triad bandwidth): the least time the fused "
                  "layer can take on this core (FLOPs of the direct algorithm: Winograd can beat it); a layer "
                  "whose FLOP floor is above its byte floor cannot reach 80% of the bandwidth, however it is "
                  "written. Data that fits in the caches (all of these layers' fits in L3 here) can exceed "
                  "100% of the DRAM figure.\n")
        ew = [(n, r) for n, r in fu.items() if n.startswith("BM_elementwise/") and "error" not in r]
        if ew:
            md.append("Element-wise ops alone (`s::elementwise`), one pass per op vs one pass for the chain:\n")
            md.append(table(["tensor", "mul+add: 2 passes us", "1 pass us", "unfused/fused",
                             "scale, shift, residual, ReLU: 4 passes us", "1 pass us", "unfused/fused"],
                            [(n.split("/", 1)[1], f(r.get("mul_add_unfused:us")), f(r.get("mul_add_fused:us")),
                              f(r.get("mul_add:unfused/fused"), 2), f(r.get("chain4_unfused:us")),
                              f(r.get("chain4_fused:us")), f(r.get("chain4:unfused/fused"), 2)) for n, r in ew])
                      + "\n")

    # Depthwise-separable blocks ----------------------------------------------------------------
    sp = B.get("bench_separable")
    if sp:
        when = (sp.get("_context") or {}).get("date", "")
        md.append("## Depthwise-separable blocks (bench_separable)\n")
        if when:
            md.append(f"Run {when}.\n")
        md.append("Depthwise 3x3 + batch-norm + ReLU6, then pointwise 1x1 + bias + ReLU6. `fused`: "
                  "`s::depthwise_separable`, the depthwise output kept in a per-worker band in L2; `two layers`: "
                  "the depthwise layer into a tensor, then the pointwise layer from it. Outputs equal bit for bit. "
                  "GFLOP/s count both layers.\n")
        rows = []
        for n, r in sp.items():
            if n.startswith("_") or "error" in r:
                continue
            rows.append((n.split("/", 1)[1], f(r.get("fused:us")), f(r.get("two_layers:us")),
                         f(r.get("two_layers/fused"), 3), f(r.get("fused:GFLOP/s")), f(r.get("fused:%peak"), 0, True)))
        md.append(table(["block", "fused us", "two layers us", "two layers/fused", "fused GFLOP/s", "fused %peak"],
                        rows) + "\n")

    md.append(f"![chart](bench-chart.png)\n")
    report_path.write_text("\n".join(md))
    print(f"report.py: wrote {report_path}")
    chart(B, chart_path)


def chart(B, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("report.py: matplotlib not found (Debian: python3-matplotlib); no chart", file=sys.stderr)
        return
    xo, xx, fu, cc, cd = (B[k] for k in ("bench_conv_onednn", "bench_conv_xnnpack", "bench_fusion",
                                          "bench_chain_conv", "bench_chain_depthwise"))
    fig, axes = plt.subplots(3, 1, figsize=(14, 15))

    # (a) fused GFLOP/s per shape: sinter, oneDNN, XNNPACK.
    ax = axes[0]
    names = []
    for b in (xo, xx):
        for n in (b or {}):
            if not n.startswith("_") and n not in names and "error" not in b[n]:
                names.append(n)
    if names:
        series = [("sinter", lambda n: (xo or {}).get(n, {}).get("sinter_fused:GFLOP/s")
                   or (xx or {}).get(n, {}).get("sinter_fused:GFLOP/s")),
                  ("oneDNN", lambda n: (xo or {}).get(n, {}).get("onednn_fused:GFLOP/s")),
                  ("XNNPACK", lambda n: (xx or {}).get(n, {}).get("xnnpack_fused:GFLOP/s"))]
        w = 0.27
        for i, (lab, get) in enumerate(series):
            ys = [get(n) or 0 for n in names]
            ax.bar([k + (i - 1) * w for k in range(len(names))], ys, w, label=lab)
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels([n.replace("mobilenet_v1/", "mbv1/").replace("resnet18/", "r18/") for n in names],
                           rotation=60, ha="right", fontsize=7)
        ax.set_ylabel("GFLOP/s (effective), fused chain")
        ax.set_title("Conv with scale + shift + residual + ReLU, single thread")
        ax.legend()

    # (b) fused vs unfused.
    ax = axes[1]
    if fu:
        lays = [n for n in fu if n.startswith("BM_unfused/") and "error" not in fu[n]]
        vars_ = [("bare", "bare:us"), ("fused", "fused:us"), ("unfused, 1 pass", "unfused_1pass:us"),
                 ("unfused, 1 pass per op", "unfused:us")]
        w = 0.2
        for i, (lab, key) in enumerate(vars_):
            ys = [fu[n].get(key, 0) / fu[n].get("bare:us", 1) for n in lays]
            ax.bar([k + (i - 1.5) * w for k in range(len(lays))], ys, w, label=lab)
        ax.set_xticks(range(len(lays)))
        ax.set_xticklabels([n.split("/", 1)[1] for n in lays], fontsize=8)
        ax.set_ylabel("time / bare layer")
        ax.set_title("Fused vs unfused (same run)")
        ax.axhline(1.0, color="grey", lw=0.5)
        ax.legend()

    # (c) chain sweep.
    ax = axes[2]
    for b, tag in ((cc, "conv 3x3 56x56x64"), (cd, "dw 3x3 112x112x32")):
        for n, r in (b or {}).items():
            if n.startswith("_") or "error" in r:
                continue
            ys = [1.0] + [r.get(f"len{i}/len0") for i in range(1, 9)]
            ax.plot(range(9), ys, marker="o", label=f"{tag}, {n.rsplit('/', 1)[1]}")
    ax.set_xlabel("ops in the fused chain")
    ax.set_ylabel("time / bare layer")
    ax.set_title("Chain length sweep (same run)")
    ax.legend(fontsize=8)

    fig.tight_layout()
    fig.savefig(path, dpi=90)
    print(f"report.py: wrote {path}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", dest="mode", action="store_const", const="quick",
                      help="3 repetitions, short runs, fewer shapes (default)")
    mode.add_argument("--full", dest="mode", action="store_const", const="full",
                      help="5 repetitions of >= 0.5 s, every shape")
    ap.set_defaults(mode="quick")
    ap.add_argument("--build", default="build/avx512", help="CMake build directory with bench/ (default %(default)s)")
    ap.add_argument("--cpu", type=int, default=1 if (os.cpu_count() or 1) > 1 else -1,
                    help="CPU to pin to with taskset (-1: no pinning; default %(default)s)")
    ap.add_argument("--json-dir", default=str(ROOT / "docs" / "bench"), help="where the JSON goes (default docs/bench)")
    ap.add_argument("--report", default=str(ROOT / "docs" / "bench-report.md"))
    ap.add_argument("--chart", default=str(ROOT / "docs" / "bench-chart.png"))
    ap.add_argument("--only", nargs="*", help="run only these binaries (the others' JSON is kept and rendered)")
    ap.add_argument("--render-only", action="store_true", help="do not run anything; render the kept JSON")
    ap.add_argument("--verbose", action="store_true", help="show the binaries' console output")
    args = ap.parse_args()
    json_dir = Path(args.json_dir)
    if not args.render_only:
        run_suite(args, json_dir)
    render(json_dir, Path(args.report), Path(args.chart))


if __name__ == "__main__":
    main()
