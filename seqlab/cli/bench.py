"""``seqlab bench``: the benchmarks, each printing ratios measured in one run (speed targets live here,
not in timed tests: the machine is shared and noisy)."""

from __future__ import annotations

from .common import UsageError, add_json_flag


def register(sub) -> None:
    s = sub.add_parser("bench", help="time a bare fused training step against the instrumented engine step")
    s.add_argument("--models", help="comma-separated (default: every model that fits the task)")
    s.add_argument("--task", default="parity")
    s.add_argument("--seq-len", type=int, default=50)
    s.add_argument("--hidden", type=int, default=64)
    s.add_argument("--layers", type=int, default=1)
    s.add_argument("--batch-size", type=int, default=32)
    s.add_argument("--rounds", type=int, default=30)
    s.add_argument("--live", action="store_true", help="instead: how much a page watching a run slows it")
    s.add_argument("--diagnostics", action="store_true", help="instead: each deep diagnostic's cost vs the bare step")
    s.add_argument("--complexity", action="store_true", help="instead: the full complexity sweep's time and fits")
    s.add_argument("--ssm", action="store_true", help="instead: the selective SSM's two-level scan against its loop")
    s.add_argument("--sweep", action="store_true", help="instead: 24 runs serial vs a 2-worker pool vs Ray")
    s.add_argument(
        "--search", action="store_true", help="instead: the Optuna search vs the old random search, hypervolumes"
    )
    s.add_argument(
        "--record", action="store_true", help="instead: a step with and without recording, and listing 1,000 runs"
    )
    s.add_argument(
        "--history", action="store_true", help="instead: the History page's listing, table and script with 1,000 runs"
    )
    s.add_argument(
        "--presets", action="store_true", help="instead: every page's presets trained headless, time to lesson each"
    )
    s.add_argument("--page", help="with --presets: only this page's presets")
    s.add_argument("--preset", help="with --presets and --page: only this preset (its name, or its name as in a link)")
    s.add_argument("--margin", type=float, default=0.0, help="with --presets: seconds to train on after the lesson")
    s.add_argument("--budget", type=float, default=120.0, help="with --presets: give up on a lesson after this long")
    s.add_argument("--export", action="store_true", help="instead: one chart exported to PNG, SVG and CSV")
    s.add_argument(
        "--thread-gain", action="store_true", help="instead: ms/step on 1 vs 2 threads, quiet and beside a busy loop"
    )
    add_json_flag(s)
    s.set_defaults(func=run, view=show)


class Bench:
    """One benchmark's rows (what ``--json`` prints) and which view prints them."""

    def __init__(self, mode: str, rows: list):
        self.mode, self.rows = mode, rows

    def to_json(self) -> list:
        return self.rows


def run(args) -> Bench:
    for mode in MODES:
        if getattr(args, mode):
            return Bench(mode, MODES[mode][0](args))
    return Bench("steps", _steps(args))


def show(out: Bench, args) -> None:
    (MODES[out.mode][1] if out.mode in MODES else _show_steps)(out.rows, args)


def _diagnostics(args) -> list:
    from ..bench import bench_diagnostics

    return bench_diagnostics(model=args.models or "lstm")


def _show_diagnostics(rows, args) -> None:
    print(f"{'diagnostic':<55} {'bare ms':>8} {'with ms':>8} {'ratio':>6}   (both include evaluation)")
    for r in rows:
        print(f"{r['diagnostic']:<55} {r['bare_ms']:>8.2f} {r['with_ms']:>8.2f} {r['ratio']:>6.3f}")


def _complexity(args) -> list:
    from ..bench import bench_complexity
    from ..ui.bench import bench_complexity_panel  # the CLI, like app.py, is an entry point: it may reach the UI

    return [*bench_complexity(), bench_complexity_panel()]


def _show_complexity(rows, args) -> None:
    from ..bench import COMPLEXITY_LENGTHS

    sweeps, command, panel = rows[:3], rows[3], rows[4]
    print(f"full sweep at n = {COMPLEXITY_LENGTHS}, d = 64, batch 8, 1 thread, every point measured")
    for r in sweeps:
        print(f"  {r['models']:<18} measuring {r['metrics']:<26} {r['seconds']:6.1f} s")
    print("  fitted exponent − theory (target |·| ≤ 0.15 for the recurrent models and attention-op):")
    for r in (sweeps[0], sweeps[2]):
        for k, v in r["exponent_minus_theory"].items():
            print(f"    {k:<24} {v:+.2f}")
    print(
        f"the command with start-up, nothing kept: {command['seconds']:.1f} s wall, {command['cpu_seconds']:.1f} s CPU "
        f"(target < {command['target_seconds']:g} s; the sweep itself {command['sweep_seconds']:.1f} s)"
    )
    print(f"  {command['command']}")
    print(
        f"a page's complexity panel ({panel['models']} at n = {panel['lengths']}): first visit "
        f"{panel['first_visit_s']:.2f} s (measures), second visit {panel['second_visit_s']:.3f} s, after a restart "
        f"{panel['after_restart_s']:.3f} s (target: second visit < {panel['target_seconds']:g} s)"
    )


def _ssm(args) -> list:
    from ..bench import bench_ssm

    return [bench_ssm()]


def _show_ssm(rows, args) -> None:
    r = rows[0]
    print(
        f"selective SSM training step, parity n={r['n']}, d={r['d']}, N={r['state']}, batch 8, 1 thread, "
        "median ms of interleaved steps, CPU (wall) (target: two-level ≥ 5× faster than the loop)"
    )
    for k, v in r["step_ms"].items():
        ratio = "" if k == "loop" else f"  {r['speedup'][k]:.2f}× faster than the loop"
        print(f"  {k:<10} {v:8.1f} ms ({r['step_wall_ms'][k]:.1f}){ratio}")
    sc = r["scan_ms"]
    print(
        f"the scan alone (forward + backward): loop {sc['loop']:.1f} ms, two-level {sc['two-level']:.1f} ms "
        f"({r['scan_speedup']:.2f}×); the step with a free scan {r['rest_ms']:.1f} ms: at best "
        f"{r['speedup_if_scan_were_free']:.2f}× faster than the loop"
    )
    budget, one = r["scan_budget_ms_for_5x"], r["state_pass_ms"]
    print(
        f"for 5× the scan may cost {budget:.1f} ms of the step = {max(budget, 0) / one:.1f} elementwise passes over "
        f"its state (B·n·N·d floats; one pass {one:.2f} ms at one thread); its forward alone makes 4 (the decays, "
        "the update's product and sum, the readout), its backward about twice as many"
    )
    rec = r["recall_ms"]
    print(
        f"recall, 12 pairs, d={r['d']}, 2 layers: loop {rec['loop']:.1f} ms, "
        f"two-level {rec['two-level']:.1f} ms ({r['recall_speedup']:.2f}×); "
        f"S4D {rec['s4d']:.1f} ms, GPT {rec['gpt']:.1f} ms"
    )
    print(
        f"two-level step CPU time over n = {r['lengths']}: "
        + ", ".join(f"{v:.1f}" for v in r["two_level_ms"])
        + f" ms; exponent {r['time_exponent']:.2f} ± {r['time_exponent_stderr']:.2f} (target within 0.15 of 1)"
    )
    print(
        "  the same step with a free scan: "
        + ", ".join(f"{v:.1f}" for v in r["no_scan_ms"])
        + f" ms, exponent {r['no_scan_time_exponent']:.2f}; the scan alone (forward + backward): "
        + ", ".join(f"{v:.1f}" for v in r["scan_alone_ms"])
        + f" ms, exponent {r['scan_alone_time_exponent']:.2f} ± {r['scan_alone_time_exponent_stderr']:.2f}"
    )


def _history(args) -> list:
    from ..ui.bench import bench_history  # an entry point may reach the UI (as --live does)

    return [bench_history()]


def _show_history(rows, args) -> None:
    r = rows[0]
    print(
        f"History page with {r['runs']:,} runs: listing {1000 * r['list_s']:.0f} ms, "
        f"table {1000 * r['table_s']:.0f} ms, "
        f"the page's script {1000 * r['page_first_s']:.0f} ms first, {1000 * r['page_s']:.0f} ms again "
        f"({r['rows_shown']:,} rows sent; target < 1 s)"
    )


def _live(args) -> list:
    from ..ui.bench import bench_live  # the CLI, like app.py, is an entry point: it may reach the UI

    return [bench_live()]


def _show_live(rows, args) -> None:
    row = rows[0]
    print(
        f"live view: one redraw of the three panels takes {row['redraw_ms']:.1f} ms every "
        f"{row['poll_seconds']} s ({100 * row['redraw_fraction']:.1f} % of the time); training ran at "
        f"{row['steps_per_s_unwatched']:.1f} steps/s unwatched and {row['steps_per_s_watched']:.1f} "
        f"watched: slowdown {row['slowdown']:.3f} (target ≤ 1.05; a few % of noise here)"
    )


def _thread_gain(args) -> list:
    from ..bench import bench_threads

    return bench_threads()


def _show_thread_gain(rows, args) -> None:
    def cell(c: dict) -> str:
        if not c["pairs"]:
            return f"{'(no quiet pair)':>27}"
        return f"{c['ms_1']:>8.1f} {c['ms_2']:>8.1f} {c['gain']:>5.2f} {c['pairs']:>3}"

    cols = f"{'1 thr ms':>8} {'2 thr ms':>8} {'gain':>5} {'n':>3}"
    print(f"{'':<34} {'':>7} {'':>4}   {'quiet':<27}   {'beside a busy loop':<27}")
    print(f"{'configuration':<34} {'work':>7} {'rule':>4}   {cols}   {cols}")
    for r in rows:
        head = f"{r['config']:<34} {r['work'] / 1e6:>6.0f}M {r['rule_threads']:>4}"
        print(f"{head}   {cell(r['quiet'])}   {cell(r['busy'])}")
    print(
        "ms per step; work = parameters × tokens per batch; rule = the live rule's threads for the run alone on an "
        "idle machine; gain = 1-thread ms ÷ 2-thread ms, median over the n pairs of blocks in which other processes "
        f"kept under 0.3 of a core busy (beside the busy loop: 1.3); 1-minute load at the end: {rows[-1]['load']:.1f}"
    )


def _export(args) -> list:
    from ..ui.bench import bench_export

    return [bench_export()]


def _show_export(rows, args) -> None:
    r = rows[0]
    print(
        f"export of one loss chart ({r['points']:,} points): PNG {r['png_ms']:.0f} ms ({r['png_cpu_ms']:.0f} ms CPU, "
        f"{r['png_bytes'] / 1024:.0f} KiB; the first {r['png_first_ms']:.0f} ms starts the renderer) "
        f"(target < 1 s), SVG {r['svg_ms']:.0f} ms ({r['svg_cpu_ms']:.0f} CPU), CSV {r['csv_ms']:.1f} ms"
    )


def _steps(args) -> list:
    from ..bench import bench_steps

    models = None
    if args.models is not None:
        models = [m.strip() for m in args.models.split(",") if m.strip()]
        if not models:
            raise UsageError("name at least one model (or leave --models out for every model)", "models")
    if args.rounds < 1:
        raise UsageError(f"must be ≥ 1 (got {args.rounds})", "rounds")
    return bench_steps(
        models=models,
        task=args.task,
        seq_len=args.seq_len,
        hidden=args.hidden,
        layers=args.layers,
        batch_size=args.batch_size,
        rounds=args.rounds,
    )


def _show_steps(rows, args) -> None:
    print(
        f"{'model':<14} {'bare ms':>9} {'instr. ms':>10} {'ratio':>7}   (task {args.task}, T={args.seq_len}, "
        f"B={args.batch_size}, hidden {args.hidden}, {args.layers} layer(s), 1 thread, "
        f"median of {args.rounds} interleaved rounds)"
    )
    for r in rows:
        print(f"{r['model']:<14} {r['bare_ms']:>9.3f} {r['instrumented_ms']:>10.3f} {r['ratio']:>7.3f}")


def _sweep(args) -> list:
    from ..bench import bench_sweep

    return [bench_sweep()]


def _show_sweep(rows, args) -> None:
    r, s = rows[0], rows[0]["seconds"]
    print(
        f"{r['runs']} short runs: one after another {s['serial']:.1f} s, 2-worker pool {s['pool']:.1f} s → "
        f"{r['pool_speedup']:.2f}× (target ≥ 1.7×); Ray {s['ray']:.1f} s → {r['ray_over_pool']:.2f}× the pool "
        f"(target ≤ 1.3×); start-up included; identical losses on every backend: {r['same_numbers']}"
    )
    for name, b in r["breakdown"].items():
        print(
            f"  {name}: start-up {b['startup']:.1f} s, training {b['training']:.1f} s summed, "
            f"overhead {b['overhead']:.1f} s beyond training on its cores"
        )
    print(f"  1-minute load average at the end: {r['load']:.1f} (on 2 cores; above 2, other work shared them)")


def _search(args) -> list:
    from ..bench import bench_search

    return [bench_search()]


def _show_search(rows, args) -> None:
    r = rows[0]
    c = r["config"]
    print(
        f"architecture search on {c['task']} (T={c['seq_len']}), {c['trials']} architectures, {c['min_steps']} steps "
        f"at the first rung, η={c['eta']}, one bracket to its end or brackets for {c['budget']:.0f} s, same seed per "
        "row; hypervolume of "
        f"held-out {r['metric']} vs log10 cost (params; CPU ms per step), larger is better; target: optuna ≥ "
        "random+SH"
    )
    print(f"{'seed':>4} {'search':<20} {'HV params':>9} {'HV ms/step':>10} {'trainings':>9} {'s':>6}  best")
    for x in r["rows"]:
        best = f"{x['best']} ({x['best_metric']:.3g})" if x["best"] else "–"
        print(
            f"{x['seed']:>4} {x['search']:<20} {x['hv_params']:>9.4f} {x['hv_time']:>10.4f} {x['trainings']:>9} "
            f"{x['seconds']:>6.1f}  {best}"
        )
    print(f"over {len(r['seeds'])} seeds, mean ± std:")
    for name, m in r["summary"].items():
        hp, ht = m["hv_params"], m["hv_time"]
        print(
            f"  {name:<20} HV params {hp['mean']:.3f} ± {hp['std']:.3f}   HV ms/step {ht['mean']:.3f} ± {ht['std']:.3f}"
        )
    print("paired difference to random+SH, seed by seed (mean ± std; seeds at least as good):")
    for name, d in r["paired"].items():
        hp, ht = d["hv_params"], d["hv_time"]
        print(
            f"  {name:<20} HV params {hp['mean']:+.3f} ± {hp['std']:.3f} ({hp['wins']}/{len(r['seeds'])})   "
            f"HV ms/step {ht['mean']:+.3f} ± {ht['std']:.3f} ({ht['wins']}/{len(r['seeds'])})"
        )


def _record(args) -> list:
    from ..bench import bench_listing, bench_record

    return [bench_record(model=args.models or "lstm", rounds=args.rounds), bench_listing()]


def _show_record(rows, args) -> None:
    r, listing = rows
    print(
        f"recording a run ({r['model']}, {r['steps_recorded']} steps kept, flushed once a second), CPU ms a step: "
        f"{r['plain_ms']:.2f} without, {r['recorded_ms']:.2f} with; ratio of totals {r['ratio']:.3f}, median of "
        f"blocks {r['median_block_ratio']:.3f}; time inside the writer {100 * r['writer_share']:.2f} % of the "
        "recorded steps (target ≤ 1.02, i.e. ≤ 2 %)"
    )
    print(
        f"listing {listing['runs']:,} runs: {1000 * listing['list_first_s']:.0f} ms from a fresh store, "
        f"{1000 * listing['list_s']:.0f} ms again, 50 filtered and sorted {1000 * listing['filtered_50_s']:.0f} ms "
        f"(target < 1 s; creating them took {listing['create_s']:.1f} s)"
    )


def _presets(args) -> list:
    from ..bench import bench_presets
    from ..presets import PRESETS
    from .record import chosen

    if args.page is not None and args.page not in PRESETS:
        raise UsageError(f"{args.page!r} has no presets; pages with presets: {', '.join(PRESETS)}", "page")
    if args.preset is not None and args.page is None:
        raise UsageError("needs --page (a preset's name is unique within its page)", "preset")
    if args.margin < 0:
        raise UsageError(f"must be ≥ 0 seconds (got {args.margin:g})", "margin")
    if not args.budget > 0:
        raise UsageError(f"must be > 0 seconds (got {args.budget:g})", "budget")
    only = chosen(args.page, args.preset) if args.preset is not None else None
    on_row = None if args.json else _print_preset
    if on_row is not None:
        print(
            f"{'preset':<58} {'lesson at':>22}  steps to lesson (ms/step)   "
            f"(runs of a preset in parallel, cores split between them; load average shown)"
        )
    return bench_presets([args.page] if args.page else None, args.margin, args.budget, on_row, only)


def _print_preset(r: dict) -> None:
    t = f"{r['seconds_to_lesson']:.1f} s" if r["seconds_to_lesson"] is not None else "not seen"
    if r["cpu_seconds_to_lesson"] is not None:
        t += f" (CPU {r['cpu_seconds_to_lesson']:.0f} s)"
    where = r["steps_to_lesson"] or r["steps"]
    runs = ", ".join(f"{k} {where[k]:,} ({r['ms_per_step'][k]:.0f})" for k in where)
    print(f"{r['page'] + ': ' + r['preset']:<58.58} {t:>22}  {runs}  load {r['load'][0]:.1f}", flush=True)


def _show_presets(rows, args) -> None:
    seen = [r for r in rows if r["seconds_to_lesson"] is not None]
    print(f"{len(seen)} of {len(rows)} lessons seen; {sum(r['seconds_to_lesson'] <= 30 for r in seen)} within 30 s")


# flag -> (measure, show); a new benchmark is one entry here and one flag above
MODES = {
    "diagnostics": (_diagnostics, _show_diagnostics),
    "complexity": (_complexity, _show_complexity),
    "ssm": (_ssm, _show_ssm),
    "live": (_live, _show_live),
    "sweep": (_sweep, _show_sweep),
    "history": (_history, _show_history),
    "search": (_search, _show_search),
    "record": (_record, _show_record),
    "presets": (_presets, _show_presets),
    "export": (_export, _show_export),
    "thread_gain": (_thread_gain, _show_thread_gain),
}
