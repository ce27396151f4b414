#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Run Shimmer's benchmarks under several allocators and compare them.

Every allocator, Shimmer included, is loaded into the same benchmark
binaries with LD_PRELOAD (glibc runs with none), so only the allocator
differs between runs.  Runs are interleaved: each repetition goes round
all allocators for one benchmark before the next, and the starting
allocator rotates, so slow drift in a noisy machine's load spreads over
everyone instead of landing on whoever ran last.  Medians are reported as
ratios to a baseline (Shimmer unless told otherwise): above 1 means the
other allocator is slower or uses more memory.

Standard library only.  Settings come from options or, for use from make,
from the environment: QUICK, RUNS, THREADS, ALLOCATORS, BENCHES,
SHIMMER_LIB, SHIMMER_LIB_B, BASELINE, BENCH_TIMEOUT.
"""

import argparse
import csv
import math
import os
import platform
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

# ---- what to run -----------------------------------------------------------

# Each benchmark: its program, whether -t applies (THREADS is passed only to
# benchmarks that are multi-threaded by nature), arguments for full and quick
# mode, how many runs quick mode makes at most, and the extra metrics it
# reports besides time (ns_per_op) and peak RSS (hwm_kb).
# Extra metric: (key in the result line, row label, unit).
BENCHES = [
    dict(name="churn", threaded=False,
         full=["-d", "2"], quick=["-d", "0.5"]),
    dict(name="cmix", threaded=False,
         full=["-d", "2"], quick=["-d", "0.5"]),
    dict(name="larson", threaded=True,
         full=["-d", "2"], quick=["-d", "0.5"]),
    dict(name="xthread", threaded=True,
         full=["-d", "2"], quick=["-d", "0.5"]),
    dict(name="realloc", threaded=False,
         full=["-d", "2"], quick=["-d", "0.5"]),
    dict(name="large", threaded=False,
         full=["-d", "2"], quick=["-d", "0.5"]),
    dict(name="threads", threaded=True,
         full=["-d", "2"], quick=["-d", "0.5"]),
    dict(name="falseshare", threaded=True,
         full=["-d", "2"], quick=["-d", "0.5"]),
    dict(name="memreturn", threaded=True,
         full=["-n", "1024", "-d", "5"], quick=["-n", "1024", "-d", "5"],
         quick_runs=1,
         extra=[("rss_1s_kb", "RSS 1 s after free", "KiB"),
                ("rss_late_kb", "RSS 5 s after free", "KiB")]),
    dict(name="frag", threaded=False,
         full=["-n", "256"], quick=["-n", "48"],
         extra=[("rss_over_live", "heap RSS / live", "x")]),
    dict(name="fastpath", threaded=False,
         full=["-d", "2"], quick=["-d", "0.5"]),
]

PEERS = [
    # name, environment override, library file names to look for
    ("jemalloc", "JEMALLOC_LIB", ["libjemalloc.so.2", "libjemalloc.so"]),
    ("mimalloc", "MIMALLOC_LIB", ["libmimalloc.so.2", "libmimalloc.so"]),
    ("tcmalloc", "TCMALLOC_LIB", ["libtcmalloc_minimal.so.4",
                                  "libtcmalloc_minimal.so"]),
]

# Names as printed in the chart; the table keeps the short names.
DISPLAY = {"shimmer": "Shimmer", "shimmer-b": "Shimmer (B)"}

COLORS = {
    "shimmer": "#444444", "shimmer-b": "#8c564b", "glibc": "#1f77b4",
    "jemalloc": "#ff7f0e", "mimalloc": "#2ca02c", "tcmalloc": "#d62728",
}


def lib_dirs():
    arch = platform.machine() or "x86_64"
    triplet = arch + "-linux-gnu"
    return ["/usr/lib/" + triplet, "/lib/" + triplet, "/usr/lib64",
            "/usr/lib", "/usr/local/lib"]


def find_peer(env_name, files):
    if os.environ.get(env_name):
        return os.environ[env_name]
    for d in lib_dirs():
        for f in files:
            p = os.path.join(d, f)
            if os.path.exists(p):
                return p
    return None


# ---- running one program ---------------------------------------------------

class Run:
    """Outcome of one run of one benchmark under one allocator."""

    def __init__(self):
        self.status = "ok"      # ok, crash, hang, error
        self.values = {}        # key=value pairs of the result line
        self.wall = 0.0
        self.maxrss_kb = 0
        self.note = ""
        self.rep = 0


def command_line(alloc, argv):
    pre = "LD_PRELOAD=%s " % alloc["lib"] if alloc["lib"] else ""
    return pre + " ".join(argv)


def run_once(alloc, argv, timeout):
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if alloc["lib"]:
        env["LD_PRELOAD"] = alloc["lib"]
    r = Run()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.monotonic()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env,
                                stdin=subprocess.DEVNULL,
                                start_new_session=True)
        timed_out = threading.Event()

        def kill():
            timed_out.set()
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            # wait4 rather than Popen.wait: it also gives the rusage.
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        r.wall = time.monotonic() - t0
        r.maxrss_kb = usage.ru_maxrss
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")

    if timed_out.is_set():
        r.status, r.note = "hang", "killed after %g s" % timeout
        return r
    if os.WIFSIGNALED(status):
        r.status = "crash"
        r.note = "killed by signal %d (%s)" % (
            os.WTERMSIG(status), signal.Signals(os.WTERMSIG(status)).name)
    elif os.WEXITSTATUS(status) != 0:
        r.status = "crash"
        r.note = "exit status %d" % os.WEXITSTATUS(status)
    if r.status != "ok":
        tail = stderr.strip().splitlines()[-3:]
        if tail:
            r.note += ": " + " | ".join(tail)
        return r
    if "cannot be preloaded" in stderr:
        r.status, r.note = "error", "LD_PRELOAD failed: " + stderr.strip()
        return r
    for line in stdout.splitlines():
        if line.startswith("result "):
            for tok in line.split()[1:]:
                k, _, v = tok.partition("=")
                r.values[k] = v
    if "ns_per_op" not in r.values:
        r.status, r.note = "error", "no result line in output"
        return r
    # The program names the object its malloc came from; make sure the
    # allocator we meant to measure is the one that ran.
    got = r.values.get("malloc", "?")
    want = os.path.basename(alloc["lib"]) if alloc["lib"] else "libc.so.6"
    if got != want:
        r.status = "error"
        r.note = "malloc came from %s, expected %s" % (got, want)
    return r


# ---- statistics and formatting -------------------------------------------

def fmt_time_ns(ns):
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
        if ns >= scale:
            return "%.3g %s" % (ns / scale, unit)
    return "%.3g ns" % ns


def fmt_kib(kb):
    for unit, scale in (("GiB", 1 << 20), ("MiB", 1 << 10)):
        if kb >= scale:
            return "%.3g %s" % (kb / scale, unit)
    return "%.3g KiB" % kb


def fmt_value(v, unit):
    if v is None:
        return "-"
    if unit == "ns":
        return fmt_time_ns(v)
    if unit == "KiB":
        return fmt_kib(v)
    return "%.3g%s" % (v, unit)


def geomean(xs):
    xs = [x for x in xs if x and x > 0]
    if not xs:
        return None
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


# The geometric-mean rows: (name, label, kind of the rows they sum up, the
# rows they take).  Peak RSS has a row of its own, apart from all memory
# rows: it is what the project's memory target is on, and the others
# (memreturn's RSS after the free, frag's heap over live bytes) would
# otherwise weigh in with ratios of up to hundreds.
GEOMEANS = [
    ("time", "time", "time", lambda row: row["kind"] == "time"),
    ("peak", "peak RSS", "memory", lambda row: row["key"] == "hwm_kb"),
    ("memory", "all memory", "memory", lambda row: row["kind"] == "memory"),
]


def geomeans(table, names):
    """Each GEOMEANS row's geometric mean of the ratios, per allocator."""
    return {name: {a: geomean([r["ratio"][a] for r in table if takes(r)])
                   for a in names}
            for name, _, _, takes in GEOMEANS}


# ---- the comparison --------------------------------------------------------

def parse_args():
    env = os.environ
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bindir", default=env.get("BENCH_BINDIR", here),
                    help="where the benchmark programs are "
                         "(default: %(default)s)")
    ap.add_argument("--out", default=env.get("BENCH_OUT"),
                    help="output directory (default: BINDIR/out)")
    ap.add_argument("--quick", action="store_true",
                    default=env.get("QUICK", "") not in ("", "0", "no"),
                    help="short runs, fewer repetitions (under 3 minutes)")
    ap.add_argument("--runs", type=int, default=int(env.get("RUNS") or 0),
                    help="repetitions per benchmark and allocator "
                         "(default 5, quick 3)")
    ap.add_argument("--threads", type=int,
                    default=int(env.get("THREADS") or 0),
                    help="threads for the multi-threaded benchmarks "
                         "(default: online CPUs)")
    ap.add_argument("--allocators", default=env.get("ALLOCATORS", ""),
                    help="comma-separated subset of shimmer,shimmer-b,glibc,"
                         "jemalloc,mimalloc,tcmalloc")
    ap.add_argument("--benches", default=env.get("BENCHES", ""),
                    help="comma-separated subset of " +
                         ",".join(b["name"] for b in BENCHES))
    ap.add_argument("--shimmer-lib", default=env.get("SHIMMER_LIB", ""),
                    help="Shimmer shared library to preload")
    ap.add_argument("--compare", default=env.get("SHIMMER_LIB_B", ""),
                    help="a second Shimmer build, shown as shimmer-b")
    ap.add_argument("--baseline", default=env.get("BASELINE", "shimmer"),
                    help="allocator the ratios are taken to")
    ap.add_argument("--timeout", type=float,
                    default=float(env.get("BENCH_TIMEOUT") or 0),
                    help="seconds before a run counts as hung "
                         "(default 120, quick 60)")
    args = ap.parse_args()
    if not args.shimmer_lib:
        args.shimmer_lib = built_library(args.bindir)
    return args


def built_library(bindir):
    """The libshimmer built in the tree BINDIR belongs to, as its libtool
    archive names it (the file name follows the library's version), or ""."""
    la = os.path.join(bindir, os.pardir, "lib", "libshimmer.la")
    try:
        with open(la) as f:
            for line in f:
                if line.startswith("dlname='"):
                    return os.path.join(os.path.dirname(la), ".libs",
                                        line.split("'")[1])
    except OSError:
        pass
    return ""


def pick_allocators(args):
    allocs = []
    wanted = [a for a in args.allocators.split(",") if a]
    messages = []

    def want(name):
        return not wanted or name in wanted

    def add(name, lib, label=None):
        allocs.append(dict(name=name, lib=lib, label=label or name))

    if want("shimmer"):
        lib = args.shimmer_lib
        if lib and os.path.exists(lib):
            add("shimmer", os.path.abspath(lib))
        else:
            messages.append("shimmer: library %s not found, skipped "
                            "(build it, or set SHIMMER_LIB)"
                            % (lib or "(unset)"))
    if args.compare and (want("shimmer-b") or not wanted):
        if os.path.exists(args.compare):
            add("shimmer-b", os.path.abspath(args.compare))
        else:
            messages.append("shimmer-b: %s not found, skipped" % args.compare)
    if want("glibc"):
        add("glibc", None)
    for name, env_name, files in PEERS:
        if not want(name):
            continue
        lib = find_peer(env_name, files)
        if lib:
            add(name, lib)
        else:
            messages.append("%s: not installed, skipped (Debian: apt-get "
                            "install %s)" % (name, {
                                "jemalloc": "libjemalloc2",
                                "mimalloc": "libmimalloc2.0",
                                "tcmalloc": "libtcmalloc-minimal4"}[name]))
    unknown = set(wanted) - {"shimmer", "shimmer-b", "glibc", "jemalloc",
                             "mimalloc", "tcmalloc"}
    if unknown:
        sys.exit("run.py: unknown allocator(s): " + ", ".join(sorted(unknown)))
    return allocs, messages


def file_pages(path):
    """What a library costs every program that loads it, from its ELF
    program headers: the pages of its file its loadable segments map, and
    the size of its executable segment in bytes and pages.  Fault-around
    maps every page of a small library that is in the page cache, so these
    pages are resident in every program, and a build whose text crosses a
    page boundary costs each of them 4 KiB more."""
    page = 4096
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF" or data[4] != 2:
        return None
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    mapped, text = 0, None
    for i in range(phnum):
        ptype, flags, _, vaddr, _, filesz = struct.unpack_from(
            "<IIQQQQ", data, phoff + i * phentsize)
        if ptype != 1 or filesz == 0:           # PT_LOAD with file contents
            continue
        pages = (vaddr % page + filesz + page - 1) // page
        mapped += pages
        if flags & 1:                           # PF_X
            text = (filesz, pages)
    return mapped, text


def rows_for(bench):
    """The table rows a benchmark contributes: (key, label, unit, kind)."""
    rows = [("ns_per_op", "time", "ns", "time"),
            ("hwm_kb", "peak RSS", "KiB", "memory")]
    for key, label, unit in bench.get("extra", []):
        rows.append((key, label, unit, "memory"))
    return rows


def main():
    args = parse_args()
    runs = args.runs or (3 if args.quick else 5)
    timeout = args.timeout or (60.0 if args.quick else 120.0)
    out_dir = args.out or os.path.join(args.bindir, "out")
    wanted = [b for b in args.benches.split(",") if b]
    benches = [b for b in BENCHES if not wanted or b["name"] in wanted]
    unknown = set(wanted) - {b["name"] for b in BENCHES}
    if unknown:
        sys.exit("run.py: unknown benchmark(s): " + ", ".join(sorted(unknown)))
    for b in benches:
        prog = os.path.join(args.bindir, b["name"])
        if not os.access(prog, os.X_OK):
            sys.exit("run.py: %s not built (run 'make bench')" % prog)

    allocs, messages = pick_allocators(args)
    for m in messages:
        print(m, file=sys.stderr)
    if not allocs:
        sys.exit("run.py: no allocator to run")
    names = [a["name"] for a in allocs]
    baseline = args.baseline if args.baseline in names else names[0]
    if baseline != args.baseline:
        print("baseline %s not available; ratios are to %s" %
              (args.baseline, baseline), file=sys.stderr)
    threads = args.threads or os.cpu_count() or 1

    # results[bench][alloc] = list of Run
    results = {b["name"]: {a["name"]: [] for a in allocs} for b in benches}
    failed = {}     # (bench, alloc) -> (Run, command)
    t_start = time.monotonic()
    mode = "quick" if args.quick else "full"
    print("shimmer bench: %s mode, %d run(s) each, %d thread(s), "
          "allocators: %s" % (mode, runs, threads, ", ".join(names)),
          file=sys.stderr)

    for rep in range(runs):
        for b in benches:
            nruns = runs
            if args.quick:
                nruns = min(runs, b.get("quick_runs", runs))
            if rep >= nruns:
                continue
            argv = [os.path.join(args.bindir, b["name"])]
            argv += b["quick"] if args.quick else b["full"]
            if b["threaded"] and args.threads:
                argv += ["-t", str(args.threads)]
            order = allocs[rep % len(allocs):] + allocs[:rep % len(allocs)]
            line = []
            for a in order:
                if (b["name"], a["name"]) in failed:
                    continue
                r = run_once(a, argv, timeout)
                if r.status != "ok":
                    failed[(b["name"], a["name"])] = (r, command_line(a, argv))
                    line.append("%s %s" % (a["name"], r.status.upper()))
                    print("  %s under %s: %s: %s\n    reproduce: %s" % (
                        b["name"], a["name"], r.status, r.note,
                        command_line(a, argv)), file=sys.stderr)
                    continue
                r.rep = rep
                results[b["name"]][a["name"]].append(r)
                line.append("%s %s" % (a["name"], fmt_time_ns(
                    float(r.values["ns_per_op"]))))
            print("[%d/%d] %-10s %s" % (rep + 1, nruns, b["name"],
                                         ", ".join(line)), file=sys.stderr)
            sys.stderr.flush()

    elapsed = time.monotonic() - t_start

    # ---- medians and ratios
    table = []      # dicts: bench, label, unit, kind, values{alloc: median}
    for b in benches:
        for key, label, unit, kind in rows_for(b):
            med = {}
            samples = {}
            by_rep = {}
            for a in names:
                runs_a = [r for r in results[b["name"]][a] if key in r.values]
                samples[a] = [float(r.values[key]) for r in runs_a]
                by_rep[a] = {r.rep: float(r.values[key]) for r in runs_a}
                med[a] = statistics.median(samples[a]) if runs_a else None
            row = dict(bench=b["name"], key=key, label=label, unit=unit,
                       kind=kind, median=med, samples=samples, ratio={},
                       spread={})
            # Ratios pair each run with the baseline's run of the same
            # repetition, made seconds apart under much the same machine
            # load, and take the median of those: on a shared machine whose
            # load drifts this is steadier than a ratio of two medians.
            base = by_rep.get(baseline, {})
            for a in names:
                pairs = [by_rep[a][i] / base[i] for i in by_rep[a]
                         if i in base and base[i] > 0]
                if pairs:
                    row["ratio"][a] = statistics.median(pairs)
                    row["spread"][a] = (min(pairs), max(pairs))
                else:
                    row["ratio"][a] = None
                    row["spread"][a] = None
            table.append(row)
    geo = geomeans(table, names)

    os.makedirs(out_dir, exist_ok=True)
    text = render_table(table, geo, names, baseline, failed, mode, runs,
                        threads, elapsed)
    for a in allocs:
        info = file_pages(a["lib"]) if a["name"].startswith("shimmer") else None
        if info and info[1]:
            text += ("\n%s: %d pages of %s mapped; text %d bytes, %d pages"
                     % (a["name"], info[0], os.path.basename(a["lib"]),
                        info[1][0], info[1][1]))
    print(text)
    with open(os.path.join(out_dir, "results.txt"), "w") as f:
        f.write(text + "\n")
    write_csv(os.path.join(out_dir, "results.csv"), table, geo, names,
              baseline, failed)
    write_runs_csv(os.path.join(out_dir, "runs.csv"), benches, results,
                   names)
    svg_path = os.path.join(out_dir, "results.svg")
    with open(svg_path, "w") as f:
        f.write(render_svg(table, geo, names, baseline, mode, runs, threads))
    ET.parse(svg_path)      # refuse to leave a malformed chart behind
    print("wrote %s/results.{txt,csv,svg} and runs.csv" % out_dir)

    if failed:
        print("\nfailures:")
        for (bname, aname), (r, cmd) in sorted(failed.items()):
            print("  %s under %s: %s (%s)\n    reproduce: %s" %
                  (bname, aname, r.status, r.note, cmd))
    # A peer's failure is information; Shimmer's is a bug to act on.
    if any(a.startswith("shimmer") for (_, a) in failed):
        return 1
    return 0


# ---- outputs ---------------------------------------------------------------

def render_table(table, geo, names, baseline, failed, mode, runs, threads,
                 elapsed):
    peers = [a for a in names if a != baseline]
    head = ["benchmark", "metric", baseline] + peers
    lines = []
    body = []
    for row in table:
        cells = [row["bench"], row["label"]]
        if (row["bench"], baseline) in failed:
            cells.append(failed[(row["bench"], baseline)][0].status.upper())
        else:
            cells.append(fmt_value(row["median"][baseline], row["unit"]))
        for a in peers:
            r = row["ratio"][a]
            if (row["bench"], a) in failed and r is None:
                cells.append(failed[(row["bench"], a)][0].status.upper())
            else:
                cells.append("-" if r is None else "%.2f" % r)
        body.append(cells)
    for name, label, _, _ in GEOMEANS:
        cells = ["geomean", label, "1.00"]
        for a in peers:
            g = geo[name][a]
            cells.append("-" if g is None else "%.2f" % g)
        body.append(cells)
    widths = [max(len(str(r[i])) for r in [head] + body)
              for i in range(len(head))]

    def fmt(cells):
        out = []
        for i, c in enumerate(cells):
            out.append(c.ljust(widths[i]) if i < 2 else c.rjust(widths[i]))
        return "  ".join(out).rstrip()

    lines.append("Peer / %s ratios (%s = 1.00; >1: peer slower or bigger), "
                 "median of per-run ratios.  %s column: its median."
                 % (baseline, baseline, baseline))
    lines.append("%s mode, median of %d run(s), %d thread(s) for threaded "
                 "benchmarks, %.0f s in all." % (mode, runs, threads, elapsed))
    lines.append("")
    lines.append(fmt(head))
    lines.append(fmt(["-" * w for w in widths]))
    prev = None
    for cells in body:
        if cells[0] == prev:
            cells = [""] + cells[1:]
        else:
            prev = cells[0]
        lines.append(fmt(cells))
    return "\n".join(lines)


def write_csv(path, table, geo, names, baseline, failed):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["benchmark", "metric", "kind", "unit", "allocator",
                    "median", "ratio_to_" + baseline, "ratio_min",
                    "ratio_max", "runs", "status"])
        for row in table:
            for a in names:
                v = row["median"][a]
                r = row["ratio"][a]
                status = failed[(row["bench"], a)][0].status \
                    if (row["bench"], a) in failed else "ok"
                sp = row["spread"][a]
                w.writerow([row["bench"], row["label"], row["kind"],
                            row["unit"], a,
                            "" if v is None else "%.6g" % v,
                            "" if r is None else "%.4f" % r,
                            "" if sp is None else "%.4f" % sp[0],
                            "" if sp is None else "%.4f" % sp[1],
                            len(row["samples"][a]), status])
        for name, label, kind, _ in GEOMEANS:
            for a in names:
                g = geo[name][a]
                w.writerow(["geomean", label, kind, "ratio", a, "",
                            "" if g is None else "%.4f" % g, "", "", "",
                            ""])


def write_runs_csv(path, benches, results, names):
    keys = ["ns_per_op", "ops_per_sec", "secs", "ops", "hwm_kb", "threads"]
    extra = sorted({k for b in benches for k, _, _ in b.get("extra", [])})
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["benchmark", "allocator", "run", "wall_s",
                    "ru_maxrss_kb"] + keys + extra)
        for b in benches:
            for a in names:
                for i, r in enumerate(results[b["name"]][a]):
                    w.writerow([b["name"], a, i + 1, "%.3f" % r.wall,
                                r.maxrss_kb] +
                               [r.values.get(k, "") for k in keys + extra])


def render_svg(table, geo, names, baseline, mode, runs, threads):
    """Grouped bars of ratios on a log scale, one panel per kind."""
    peers = [a for a in names if a != baseline]
    panels = []
    for kind, title in (("time", "Time"), ("memory", "Memory")):
        groups = [("%s: %s" % (r["bench"], r["label"])
                   if r["label"] not in ("time",) else r["bench"],
                   r["ratio"]) for r in table if r["kind"] == kind]
        groups += [("geomean" if label == kind else "geomean: " + label,
                    geo[name])
                   for name, label, k, _ in GEOMEANS if k == kind]
        panels.append((title, groups))

    ratios = [v for _, groups in panels for _, rs in groups
              for a, v in rs.items() if a in peers and v]
    lo = min([0.5] + ratios)
    hi = max([2.0] + ratios)
    lo_e = max(-6, math.floor(math.log2(lo)))
    hi_e = min(6, math.ceil(math.log2(hi)))

    bar_w, gap = 14, 18
    group_w = max(1, len(peers)) * bar_w + gap
    left, right, top = 80, 30, 104
    plot_h, panel_gap = 260, 40
    longest = max(len(label) for _, g in panels for label, _ in g)
    label_h = 40 + int(longest * 7 * 0.65)   # rotated by 40 degrees
    n_groups = max(len(g) for _, g in panels)
    width = left + right + n_groups * group_w
    width = max(width, 900)
    height = top + len(panels) * (plot_h + label_h + panel_gap) + 20

    def y_of(v, y0):
        e = min(max(math.log2(v), lo_e), hi_e)
        return y0 + plot_h * (hi_e - e) / (hi_e - lo_e)

    o = []
    o.append('<?xml version="1.0" encoding="UTF-8"?>')
    o.append('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
             'viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">'
             % (width, height, width, height))
    o.append('<rect width="100%" height="100%" fill="white"/>')
    base_name = DISPLAY.get(baseline, baseline)
    o.append('<text x="%d" y="22" font-size="16" font-weight="bold">'
             'Allocators compared with %s (ratio, log scale)</text>'
             % (left, escape(base_name)))
    o.append('<text x="%d" y="40" fill="#555">%s = 1; a bar above 1 means '
             'the peer is slower or uses more memory, below 1 faster or '
             'smaller.</text>' % (left, escape(base_name)))
    o.append('<text x="%d" y="56" fill="#555">%s mode, median of %d run(s), '
             '%d thread(s) in the multi-threaded benchmarks.</text>'
             % (left, escape(mode), runs, threads))
    # legend
    lx = left
    for a in peers:
        name = DISPLAY.get(a, a)
        o.append('<rect x="%d" y="66" width="12" height="12" fill="%s"/>'
                 % (lx, COLORS.get(a, "#999")))
        o.append('<text x="%d" y="76">%s</text>' % (lx + 16, escape(name)))
        lx += 24 + 8 * len(name)

    y0 = top
    for title, groups in panels:
        o.append('<text x="%d" y="%d" font-size="14" font-weight="bold">'
                 '%s</text>' % (left, y0 + 4, escape(title)))
        o.append('<text x="%d" y="%d" text-anchor="end" fill="#555">'
                 '&#8593; peer %s &#160; &#8595; peer %s</text>'
                 % (width - right, y0 + 4,
                    "slower" if title == "Time" else "bigger",
                    "faster" if title == "Time" else "smaller"))
        y0 += 14
        # grid and y axis
        for e in range(lo_e, hi_e + 1):
            y = y_of(2.0 ** e, y0)
            o.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s" '
                     'stroke-width="%s"/>' % (
                         left, y, width - right, y,
                         "#000" if e == 0 else "#ddd",
                         "1.5" if e == 0 else "1"))
            lab = ("%g" % 2.0 ** e) if e >= 0 else "1/%d" % 2 ** -e
            o.append('<text x="%d" y="%.1f" text-anchor="end">%s</text>'
                     % (left - 6, y + 4, lab))
        o.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#000"/>'
                 % (left, y0, left, y0 + plot_h))
        o.append('<text transform="translate(%d,%d) rotate(-90)" '
                 'text-anchor="middle">%s / %s</text>'
                 % (left - 50, y0 + plot_h // 2, escape(title.lower()),
                    escape(base_name)))
        y1 = y_of(1.0, y0)
        for gi, (label, rs) in enumerate(groups):
            gx = left + gap // 2 + gi * group_w
            for bi, a in enumerate(peers):
                v = rs.get(a)
                x = gx + bi * bar_w
                if not v:
                    o.append('<text x="%d" y="%.1f" font-size="9" '
                             'fill="#999">n/a</text>' % (x, y1 - 3))
                    continue
                yv = y_of(v, y0)
                top_y, h = min(yv, y1), abs(yv - y1)
                o.append('<rect x="%d" y="%.1f" width="%d" height="%.1f" '
                         'fill="%s"><title>%s, %s: %.2f</title></rect>'
                         % (x, top_y, bar_w - 2, max(h, 1.0),
                            COLORS.get(a, "#999"), escape(label), escape(a),
                            v))
                if not 2.0 ** lo_e <= v <= 2.0 ** hi_e:
                    # Off the scale: print the value inside the bar,
                    # upright, next to the clipped end.
                    ty = yv + 4 if v > 1 else yv - 4
                    o.append('<text transform="translate(%d,%.1f) '
                             'rotate(-90)" font-size="9" fill="white" '
                             'text-anchor="%s">%.2g</text>'
                             % (x + bar_w // 2 + 2, ty,
                                "end" if v > 1 else "start", v))
            tx = gx + len(peers) * bar_w // 2
            o.append('<text transform="translate(%d,%d) rotate(-40)" '
                     'text-anchor="end"%s>%s</text>'
                     % (tx, y0 + plot_h + 14,
                        ' font-weight="bold"'
                        if label.startswith("geomean") else "",
                        escape(label)))
        o.append('<text x="%d" y="%d" text-anchor="middle" fill="#555">'
                 'benchmark</text>' % ((left + width - right) // 2,
                                        y0 + plot_h + label_h - 10))
        y0 += plot_h + label_h + panel_gap
    o.append('</svg>')
    return "\n".join(o) + "\n"


if __name__ == "__main__":
    sys.exit(main())
