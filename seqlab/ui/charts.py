"""Chart builders, one per chart kind, shared by every page (pure: no st.* here).

Each builder returns a ``Figure``: a Vega-Lite spec whose layers read *named* datasets, plus the
pandas frames for those names (see ``seqlab.ui.frames``). The spec is made with Altair once per
set of options and cached; a live redraw only swaps the data. Building an Altair chart costs
~100 ms of Python per chart, and while a run trains every millisecond the UI thread holds the
GIL is taken from the training thread — so redraws must not rebuild specs.

Runs are coloured by their position in ``labels``, so a run has one colour in every panel.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import altair as alt
import numpy as np
import pandas as pd

from ..complexity.clock import THREAD_CPU, WALL

# colour-blind-safe categorical palette (Okabe & Ito 2008)
COLORS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
HEIGHT = 240


@dataclass
class Figure:
    spec: dict  # Vega-Lite, data by name; a shared cached template: read it, don't mutate it
    data: dict[str, pd.DataFrame]
    # values of the spec's top-level params (e.g. an axis limit), swapped in like the data
    params: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """The spec with its datasets (and param values) inlined (for st.vega_lite_chart)."""
        spec = dict(self.spec)
        spec["datasets"] = dict(self.data)
        if self.params:
            spec["params"] = [p for p in spec.get("params", []) if p.get("name") not in self.params] + [
                {"name": k, "value": v} for k, v in self.params.items()
            ]
        return spec

    @property
    def title(self) -> str:
        t = self.spec.get("title", "")
        t = t.get("text", "") if isinstance(t, dict) else t
        return " ".join(t) if isinstance(t, list) else t  # a wrapped title's lines


def _named(name: str) -> alt.NamedData:
    return alt.NamedData(name=name)


def _spec(chart: alt.TopLevelMixin, large: bool) -> dict:
    s = 1.45 if large else 1.0
    # fit the width to the column but keep ``height`` for the plot itself: with Streamlit's default
    # "fit" the title, axes and legend are carved out of the height and small charts collapse
    chart = chart.properties(autosize=alt.AutoSizeParams(type="fit-x", contains="padding"))
    chart = (
        chart.configure_axis(labelFontSize=12 * s, titleFontSize=13 * s, grid=True, gridOpacity=0.4)
        .configure_legend(labelFontSize=12 * s, titleFontSize=12 * s, orient="bottom")
        .configure_title(fontSize=15 * s, subtitleFontSize=11 * s, anchor="start")
        .configure_view(strokeWidth=0)
    )
    return _wrapped_title(chart.to_dict(validate=False), large)


# characters per title / subtitle line: what fits a third of the page (~250 px at 1280 px with the
# sidebar open; ~360 px in presentation mode, whose fonts are 1.45× larger). Vega cuts a longer line
# with "…" at the chart's width, and cut the model's name off the heatmaps' titles.
TITLE_CHARS = {False: (26, 40), True: (24, 36)}


def wrap(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width`` characters, broken at spaces (a longer word stays whole; a
    no-break space keeps two words together, e.g. a symbol and what it marks)."""
    lines: list[str] = []
    for word in (w for w in text.split(" ") if w):
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines or [""]


def _wrapped_title(spec: dict, large: bool) -> dict:
    title = spec.get("title")
    if not title:
        return spec
    title = {"text": title} if isinstance(title, str) else dict(title)
    chars, sub_chars = TITLE_CHARS[large]
    for key, width in (("text", chars), ("subtitle", sub_chars)):
        if isinstance(title.get(key), str):
            title[key] = wrap(title[key], width)
    return {**spec, "title": title}


def _color(labels: tuple[str, ...], field: str = "run") -> alt.Color:
    return alt.Color(f"{field}:N", title=field, scale=alt.Scale(domain=list(labels), range=COLORS[: len(labels)]))


def _fig(spec: dict, **data) -> Figure:
    # the cached template is shared and never mutated: ``Figure.to_dict`` builds a new top level
    return Figure(spec, dict(data))


def _baseline_layers(text: str, y_field: str = "y", labelled: bool = True) -> list[alt.Chart]:
    rule = (
        alt.Chart(_named("baseline"))
        .mark_rule(strokeDash=[6, 4], color="#666", strokeWidth=1.5)
        .encode(y=alt.Y(f"{y_field}:Q"))
    )
    label = (
        alt.Chart(_named("baseline"))
        # at the right end, above the rule: at the left it sat on the curves' first (highest) stretch
        .mark_text(align="right", dx=-4, dy=-7, color="#444")
        .encode(y=alt.Y(f"{y_field}:Q"), x=alt.value("width"), text=alt.Text("label:N"))
    )
    return [rule, label] if labelled else [rule]


# no-break spaces keep a mark and its meaning on one line when the subtitle wraps
LOSS_SUBTITLE = "faded: raw · bold: smoothed · ◆\u00a0held-out · dashes: blind\u00a0guess"


# -- loss ------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=128)
def _loss_spec(labels: tuple[str, ...], y_title: str, baseline: bool, large: bool) -> dict:
    # the axis top is a param (``ytop``), so the cached spec serves every range; lines above it are clipped
    color, x = _color(labels), alt.X("step:Q", title="training step")
    y_scale = alt.Scale(domainMax={"expr": "ytop"}, nice=False)
    raw = (
        alt.Chart(_named("train"))
        .mark_line(opacity=0.25, strokeWidth=1, clip=True)
        .encode(x=x, y=alt.Y("loss:Q", title=y_title, scale=y_scale), color=color)
    )
    smooth = (
        alt.Chart(_named("train"))
        .mark_line(strokeWidth=2.5, clip=True)
        .encode(
            x=x,
            y=alt.Y("smoothed:Q", title=y_title, scale=y_scale),
            color=color,
            tooltip=[
                alt.Tooltip("run:N"),
                alt.Tooltip("step:Q"),
                alt.Tooltip("smoothed:Q", format=".4g", title="smoothed loss"),
            ],
        )
    )
    held = (
        alt.Chart(_named("eval"))
        .mark_point(filled=True, size=45, shape="diamond", clip=True)
        .encode(
            x=x,
            y=alt.Y("loss:Q", title=y_title, scale=y_scale),
            color=color,
            tooltip=[
                alt.Tooltip("run:N"),
                alt.Tooltip("step:Q"),
                alt.Tooltip("loss:Q", format=".4g", title="held-out"),
            ],
        )
    )
    # the rule unlabelled: a run that learns nothing sits on it, under any label drawn there; the
    # subtitle says what the dashes are
    layers = [raw, smooth, held] + (_baseline_layers("blind baseline", labelled=False) if baseline else [])
    return _spec(
        alt.layer(*layers).properties(
            title=alt.Title("Loss", subtitle=LOSS_SUBTITLE),
            height=HEIGHT,
            width="container",
        ),
        large,
    )


def loss_top(
    train: pd.DataFrame, held_out: pd.DataFrame, baseline: float | None, full: bool = False, skip: float = 0.1
) -> float:
    """Top of the loss axis. ``full``: the highest value drawn. Otherwise the first ``skip`` of each run's
    steps is ignored — an untrained network's first losses can be tens of times the rest and squash
    the part of the curve worth reading — and the raw curve's rarest spikes (top 2 %) are clipped;
    the blind baseline always stays in view."""
    import numpy as np

    def finite(values) -> np.ndarray:
        v = np.asarray(values, dtype=float)
        return v[np.isfinite(v)]

    tops = [baseline * 1.1] if baseline is not None and np.isfinite(baseline) else []
    if full:
        tops += [v.max() for v in (finite(train["loss"]), finite(held_out["loss"])) if len(v)]
    else:
        for run, rows in train.groupby("run"):
            late = rows[rows["step"] >= rows["step"].min() + skip * (rows["step"].max() - rows["step"].min())]
            raw = finite(late["loss"])  # not the smoothed curve: its average still carries the early spike
            tops += [np.quantile(raw, 0.98)] if len(raw) else []
            ev = held_out[held_out["run"] == run]
            ev = finite(ev[ev["step"] >= late["step"].min()]["loss"]) if len(late) else []
            tops += [ev.max()] if len(ev) else []
    return float(max(tops) * 1.05) if tops else 1.0


def loss_chart(
    train: pd.DataFrame,
    labels,
    baseline: float | None = None,
    held_out: pd.DataFrame | None = None,
    y_title: str = "loss",
    large: bool = False,
    full_range: bool = False,
) -> Figure:
    """Training loss vs step: raw curve faded, smoothed curve on top, held-out loss as diamonds,
    the blind baseline as a dashed rule; the axis ignores early spikes unless ``full_range``."""
    spec = _loss_spec(tuple(labels), y_title, baseline is not None, large)
    held_out = held_out if held_out is not None else pd.DataFrame(columns=["run", "step", "loss"])
    return Figure(
        spec,
        {"train": train, "eval": held_out, "baseline": pd.DataFrame({"y": [baseline], "label": ["blind guess"]})},
        {"ytop": loss_top(train, held_out, baseline, full_range)},
    )


# -- held-out metric ---------------------------------------------------------------------------
@functools.lru_cache(maxsize=128)
def _metric_spec(labels: tuple[str, ...], metric: str, baseline: bool, large: bool) -> dict:
    pretty = metric.replace("_", " ")
    if "accuracy" in metric:
        y = alt.Y(f"{metric}:Q", title=f"held-out {pretty}", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%"))
    else:
        y = alt.Y(f"{metric}:Q", title=f"held-out {pretty}")
    line = (
        alt.Chart(_named("eval"))
        .mark_line(point=True)
        .encode(
            x=alt.X("step:Q", title="training step"),
            y=y,
            color=_color(labels),
            tooltip=[alt.Tooltip("run:N"), alt.Tooltip("step:Q"), alt.Tooltip(f"{metric}:Q", format=".4g")],
        )
    )
    layers = [line] + (_baseline_layers("chance") if baseline else [])
    return _spec(
        alt.layer(*layers).properties(title=f"Held-out {pretty}", height=int(HEIGHT * 0.7), width="container"), large
    )


def metric_chart(
    held_out: pd.DataFrame, metric: str, labels, baseline: float | None = None, large: bool = False
) -> Figure:
    """A held-out metric (accuracy, MSE, …) vs step, with its blind baseline."""
    spec = _metric_spec(tuple(labels), metric, baseline is not None, large)
    return _fig(spec, eval=held_out, baseline=pd.DataFrame({"y": [baseline], "label": ["blind guess"]}))


# -- gradient by time step -------------------------------------------------------------------
@functools.lru_cache(maxsize=128)
def _heatmap_spec(label: str, large: bool, lo: float, hi: float) -> dict:
    chart = (
        alt.Chart(_named("grads"))
        .mark_rect()
        .encode(
            x=alt.X("t:O", title="input time step t", axis=alt.Axis(labelOverlap=True, labelAngle=0)),
            y=alt.Y("step:O", title="training step", axis=alt.Axis(labelOverlap=True)),
            color=alt.Color(
                "log10:Q", title="log10 ‖∂L/∂x_t‖", scale=alt.Scale(scheme="viridis", domain=[lo, hi], clamp=True)
            ),
            tooltip=[alt.Tooltip("step:O"), alt.Tooltip("t:O"), alt.Tooltip("norm:Q", format=".3e", title="‖∂L/∂x_t‖")],
        )
    )
    return _spec(
        chart.properties(
            title=alt.Title(f"Gradient reaching each input — {label}", subtitle="brighter = more learning signal"),
            height=HEIGHT,
            width="container",
        ),
        large,
    )


def grad_heatmap(grads: pd.DataFrame, label: str, large: bool = False, domain=(-8.0, 0.0)) -> Figure:
    """log10 ‖∂L/∂x_t‖: input time step t across, training step down. Vanishing gradients show
    as a dark band on the left (early inputs get almost no signal)."""
    return _fig(_heatmap_spec(label, large, float(domain[0]), float(domain[1])), grads=grads)


@functools.lru_cache(maxsize=128)
def _latest_spec(
    labels: tuple[str, ...],
    large: bool,
    title: str = "Gradient by input step, latest training step",
    y_title: str = "‖∂L/∂x_t‖ (log scale)",
) -> dict:
    chart = (
        alt.Chart(_named("latest"))
        .mark_line(point=alt.OverlayMarkDef(size=12))
        .encode(
            x=alt.X("t:Q", title="input time step t"),
            y=alt.Y("norm:Q", title=y_title, scale=alt.Scale(type="log"), axis=alt.Axis(format="~e")),
            color=_color(labels),
            tooltip=[
                alt.Tooltip("run:N"),
                alt.Tooltip("step:Q"),
                alt.Tooltip("t:Q"),
                alt.Tooltip("norm:Q", format=".3e"),
            ],
        )
    )
    return _spec(chart.properties(title=title, height=int(HEIGHT * 0.8), width="container"), large)


def grad_latest_chart(
    latest: pd.DataFrame, labels, large: bool = False, title: str | None = None, y_title: str | None = None
) -> Figure:
    """‖∂L/∂x_t‖ at each run's latest logged step (or another per-step norm), log scale."""
    extra = {k: v for k, v in (("title", title), ("y_title", y_title)) if v}
    return _fig(_latest_spec(tuple(labels), large, **extra), latest=latest)


# -- complexity ------------------------------------------------------------------------------------
# metric -> (column, theory column, title, y axis title, the declared form shown in the tooltip)
COMPLEXITY_METRICS = {
    "ms": ("ms", "theory_ms", "Time per training step", "ms per step (log)", "theory_time"),
    "flops": ("mflops", "theory_mflops", "FLOPs per training step", "MFLOPs, forward + backward (log)", "theory_time"),
    "bytes": ("mib", "theory_mib", "Activations saved for backward", "MiB (log)", "theory_memory"),
    "peak": (
        "peak_mib",
        "theory_peak_mib",
        "Peak memory of a training step",
        "MiB above the model (log)",
        "theory_memory",
    ),
    "path": (
        "max_path_length",
        "theory_path",
        "Maximum path length: input 1 → last output",
        "operations (log)",
        "theory_path_text",
    ),
    "depth": (
        "sequential_depth",
        "theory_depth",
        "Sequential depth of the forward graph",
        "autograd nodes (log)",
        "theory_path_text",
    ),
}


# what a time axis measures, by the clock its points were timed with (``seqlab.complexity.clock``)
TIME_AXIS = {
    THREAD_CPU: "CPU ms per step, 1 thread (log)",
    WALL: "wall ms per step (log)",
    "mixed": "ms per step: CPU, some wall (log)",
}


def time_axis(rows: pd.DataFrame) -> str | None:
    """The time axis's title for these rows' clocks (None: rows that carry no clock keep the default)."""
    clocks = set(rows["ms_clock"].dropna()) if "ms_clock" in rows else set()
    if not clocks:
        return None
    return TIME_AXIS[clocks.pop()] if len(clocks) == 1 else TIME_AXIS["mixed"]


@functools.lru_cache(maxsize=128)
def _complexity_spec(labels: tuple[str, ...], metric: str, large: bool, y_title: str | None = None) -> dict:
    y_col, theory, title, default_y_title, claim = COMPLEXITY_METRICS[metric]
    y_title = y_title or default_y_title
    color = _color(labels, "model")
    x = alt.X("n:Q", title="sequence length n (log)", scale=alt.Scale(type="log"), axis=alt.Axis(format="~g"))
    y_scale, y_axis = alt.Scale(type="log"), alt.Axis(format="~g", tickCount=6)
    theory_line = (
        alt.Chart(_named("rows"))
        .mark_line(strokeDash=[5, 4], opacity=0.7)
        .encode(
            x=x,
            y=alt.Y(f"{theory}:Q", title=y_title, scale=y_scale, axis=y_axis),
            color=color,
            detail=alt.Detail("model:N"),
            tooltip=[alt.Tooltip("model:N"), alt.Tooltip(f"{claim}:N", title="theory")],
        )
    )
    measured = (
        alt.Chart(_named("rows"))
        .mark_line(point=alt.OverlayMarkDef(size=50, filled=True))
        .encode(
            x=x,
            y=alt.Y(f"{y_col}:Q", title=y_title, scale=y_scale, axis=y_axis),
            color=color,
            tooltip=[
                alt.Tooltip("model:N"),
                alt.Tooltip("n:Q"),
                alt.Tooltip("d:Q"),
                alt.Tooltip(f"{y_col}:Q", format=".3g", title="measured"),
            ],
        )
    )
    return _spec(
        alt.layer(theory_line, measured).properties(
            title=alt.Title(title, subtitle="solid = measured · dashed = theory (through the largest n)"),
            height=HEIGHT,
            width="container",
        ),
        large,
    )


def complexity_chart(rows: pd.DataFrame, labels, metric: str = "ms", large: bool = False) -> Figure:
    """Measured points and the declared theory curve (dashed), log–log, per model."""
    if metric == "flops":
        rows = rows.assign(mflops=rows["flops"] / 1e6, theory_mflops=rows["theory_flops"] / 1e6)
    elif metric == "bytes":
        rows = rows.assign(mib=rows["activation_bytes"] / 2**20, theory_mib=rows["theory_bytes"] / 2**20)
    elif metric == "peak":
        rows = rows.assign(peak_mib=rows["peak_bytes"] / 2**20, theory_peak_mib=rows["theory_peak"] / 2**20)
    y_title = time_axis(rows) if metric == "ms" else None
    return _fig(_complexity_spec(tuple(labels), metric, large, y_title), rows=rows)


# -- the lineage -----------------------------------------------------------------------------------
@functools.lru_cache(maxsize=4)
def _timeline_spec(large: bool) -> dict:
    base = alt.Chart(_named("milestones")).encode(
        x=alt.X(
            "year:Q",
            title="year",
            scale=alt.Scale(domain=[1983, 2027], nice=False),
            axis=alt.Axis(format="d", tickCount=12),
        ),
        y=alt.Y("lane:O", axis=None),
        tooltip=[
            alt.Tooltip("title:N"),
            alt.Tooltip("year:Q", format="d"),
            alt.Tooltip("paper:N"),
            alt.Tooltip("page:N", title="see it on page"),
        ],
        href=alt.Href("href:N"),
    )
    points = base.mark_circle(size=260, opacity=0.9).encode(
        color=alt.Color("era:N", title="era", scale=alt.Scale(range=COLORS))
    )
    text = base.mark_text(align="left", dx=11, fontSize=13 * (1.3 if large else 1)).encode(text=alt.Text("title:N"))
    return _spec(
        alt.layer(points, text).properties(
            title="From backprop to today: click a milestone", height=380, width="container"
        ),
        large,
    )


def timeline_chart(milestones: pd.DataFrame, large: bool = False) -> Figure:
    """The lineage: year across, one mark per milestone, paper on hover, click opens its page."""
    return _fig(_timeline_spec(large), milestones=milestones)


# -- the three live panels, assembled (pure, so the live-view benchmark times exactly this) ------
def panel_figures(
    snaps,
    labels,
    smoothing: float = 0.9,
    y_title: str = "loss",
    large: bool = False,
    full_range: bool = False,
    individual: bool = False,
) -> dict:
    """Loss, held-out metric, one gradient heatmap per run and the latest-step profile. Runs that repeat
    one setting over seeds (labels ``<series> · seed <n>``, ``seqlab.bands``) are drawn as their series'
    mean with a ±1 std band; ``individual`` adds each seed's own curve, faded."""
    from . import frames

    out: dict = {"loss": None, "metric": None, "heatmaps": [], "latest": None}
    if not any(s.train for s in snaps):
        return out
    if has_seed_groups(labels):
        return _band_figures(snaps, smoothing, y_title, large, full_range, individual)
    ev = frames.eval_frame(snaps)
    out["loss"] = loss_chart(
        frames.loss_frame(snaps, smoothing), labels, snaps[0].baseline_loss, ev, y_title, large, full_range
    )
    metric = next((m for m in ("accuracy", "mse") if m in ev.columns), None)
    if metric:
        out["metric"] = metric_chart(ev, metric, labels, snaps[0].baseline_metrics.get(metric), large)
    for s in snaps:
        g = frames.grad_frame(s)
        if len(g):
            out["heatmaps"].append(grad_heatmap(g, s.label, large))
    if out["heatmaps"]:
        out["latest"] = grad_latest_chart(frames.latest_grad_frame(snaps), labels, large)
    return out


# -- seed bands ------------------------------------------------------------------------------------
def has_seed_groups(labels) -> bool:
    """Whether any series has more than one run (then the panels draw bands)."""
    from ..bands import series_of

    names = [series_of(label) for label in labels]
    return len(set(names)) < len(names)


@functools.lru_cache(maxsize=64)
def _band_spec(
    labels: tuple[str, ...],
    x_title: str,
    y_title: str,
    title: str,
    subtitle: str,
    y_kind: str,  # "linear", "top" (axis top from the ``ytop`` param, as the loss chart), "percent" or "log"
    baseline: bool,
    large: bool,
    height: int = HEIGHT,
) -> dict:
    color, x = _color(labels), alt.X("x:Q", title=x_title)
    scale = {
        "linear": alt.Scale(),
        "top": alt.Scale(domainMax={"expr": "ytop"}, nice=False),
        "percent": alt.Scale(domain=[0, 1]),
        "log": alt.Scale(type="log"),
    }[y_kind]
    axis = {"percent": alt.Axis(format="%"), "log": alt.Axis(format="~e")}.get(y_kind, alt.Axis())
    band = (
        alt.Chart(_named("band"))
        .mark_area(opacity=0.2, clip=True)
        .encode(x=x, y=alt.Y("lo:Q", title=y_title, scale=scale, axis=axis), y2=alt.Y2("hi:Q"), color=color)
    )
    seeds = (
        alt.Chart(_named("runs"))
        .mark_line(opacity=0.35, strokeWidth=1, clip=True)
        .encode(x=x, y=alt.Y("y:Q", title=y_title, scale=scale, axis=axis), color=color, detail=alt.Detail("id:N"))
    )
    mean = (
        alt.Chart(_named("band"))
        .mark_line(strokeWidth=2.5, clip=True)
        .encode(
            x=x,
            y=alt.Y("mean:Q", title=y_title, scale=scale, axis=axis),
            color=color,
            tooltip=[
                alt.Tooltip("run:N"),
                alt.Tooltip("x:Q", title=x_title),
                alt.Tooltip("mean:Q", format=".4g"),
                alt.Tooltip("std:Q", format=".3g", title="std (log10)" if y_kind == "log" else "std"),
                alt.Tooltip("n:Q", title="seeds"),
            ],
        )
    )
    layers = [band, seeds, mean] + (_baseline_layers("") if baseline else [])
    return _spec(
        alt.layer(*layers).properties(title=alt.Title(title, subtitle=subtitle), height=height, width="container"),
        large,
    )


def band_chart(
    band: pd.DataFrame,
    runs: pd.DataFrame,
    labels,
    x_title: str,
    y_title: str,
    title: str,
    subtitle: str,
    y_kind: str = "linear",
    baseline: float | None = None,
    large: bool = False,
    height: int = HEIGHT,
    params: dict | None = None,
) -> Figure:
    """A series' mean line over a ±1 std band (``frames.band_frame``), each seed faded behind it when
    ``runs`` (run = series, id, x, y) has rows."""
    spec = _band_spec(tuple(labels), x_title, y_title, title, subtitle, y_kind, baseline is not None, large, height)
    data = {"band": band, "runs": runs, "baseline": pd.DataFrame({"y": [baseline], "label": ["blind guess"]})}
    return Figure(spec, data, params or {})


def _band_figures(snaps, smoothing, y_title, large, full_range, individual) -> dict:
    from ..bands import series_of
    from . import frames

    series = [series_of(s.label) for s in snaps]
    names = list(dict.fromkeys(series))
    n_seeds = max(series.count(n) for n in names)
    sub = f"line: mean of {n_seeds} seeds · band: ±1 std" + (" · faded: each seed" if individual else "")
    out: dict = {"loss": None, "metric": None, "heatmaps": [], "latest": None}

    def runs_frame(rows):  # rows: (series, id, x, y) per run
        parts = [pd.DataFrame({"run": s, "id": i, "x": x, "y": y}) for s, i, x, y in rows] if individual else []
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["run", "id", "x", "y"])

    def curves(frame: pd.DataFrame, x: str, y: str) -> list[tuple]:  # (series, id, x, y) per run
        return [(series_of(s.label), s.label, *_xy(frame[frame["run"] == s.label], x, y)) for s in snaps]

    train, ev = frames.loss_frame(snaps, smoothing), frames.eval_frame(snaps)
    rows = curves(train, "step", "smoothed")
    out["loss"] = band_chart(
        frames.band_frame(rows),
        runs_frame(rows),
        names,
        "training step",
        y_title,
        "Loss",
        f"smoothed training loss · {sub}",
        "top",
        snaps[0].baseline_loss,
        large,
        params={"ytop": loss_top(train, ev, snaps[0].baseline_loss, full_range)},
    )
    metric = next((m for m in ("accuracy", "mse") if m in ev.columns), None)
    if metric:
        pretty = metric.replace("_", " ")
        rows = curves(ev, "step", metric)
        out["metric"] = band_chart(
            frames.band_frame(rows),
            runs_frame(rows),
            names,
            "training step",
            f"held-out {pretty}",
            f"Held-out {pretty}",
            sub,
            "percent" if "accuracy" in metric else "linear",
            snaps[0].baseline_metrics.get(metric),
            large,
            int(HEIGHT * 0.7),
        )
    latest = frames.latest_grad_frame(snaps)
    if len(latest):
        rows = curves(latest, "t", "norm")
        out["latest"] = band_chart(
            frames.band_frame(rows, log=True),
            runs_frame(rows),
            names,
            "input time step t",
            "‖∂L/∂x_t‖ (log scale)",
            "Gradient by input step, latest training step",
            f"geometric mean of {n_seeds} seeds · band: ×/÷ one std of log10"
            + (" · faded: each seed" if individual else ""),
            "log",
            None,
            large,
            int(HEIGHT * 0.8),
        )
        for name in names:
            grads = [frames.grad_frame(s) for s in snaps if series_of(s.label) == name]
            mean = _mean_heatmap([g for g in grads if len(g)])
            if len(mean):
                label = f"{name}, mean of {len(grads)} seeds" if len(grads) > 1 else name
                out["heatmaps"].append(grad_heatmap(mean, label, large))
    return out


def _xy(rows: pd.DataFrame, x: str, y: str) -> tuple:
    rows = rows.dropna(subset=[y])
    return rows[x].to_numpy(float), rows[y].to_numpy(float)


def _mean_heatmap(grads: list[pd.DataFrame]) -> pd.DataFrame:
    """The heatmap of log10 ‖∂L/∂x_t‖ averaged over seeds, step by step (``seqlab.bands`` aligns the steps)."""
    from ..bands import band

    if not grads:
        return pd.DataFrame(columns=["step", "t", "norm", "log10"])
    runs = []
    for g in grads:
        wide = g.pivot_table(index="step", columns="t", values="log10")
        runs.append((wide.index.to_numpy(float), wide.to_numpy(float)))
    b = band(runs)
    T = b.mean.shape[1]
    return pd.DataFrame(
        {
            "step": np.repeat(b.step, T),
            "t": np.tile(np.arange(1, T + 1), len(b.step)),
            "log10": b.mean.ravel(),
            "norm": 10 ** b.mean.ravel(),
        }
    ).dropna(subset=["log10"])


# -- attention maps ------------------------------------------------------------------------------
@functools.lru_cache(maxsize=32)
def _attention_spec(title: str, large: bool, x_title: str, y_title: str, subtitle: str) -> dict:
    chart = (
        alt.Chart(_named("alpha"))
        .mark_rect()
        .encode(
            x=alt.X("key:O", title=x_title, axis=alt.Axis(labelAngle=0, labelOverlap=True)),
            y=alt.Y("query:O", title=y_title, axis=alt.Axis(labelOverlap=True)),
            color=alt.Color("weight:Q", title="α_ij", scale=alt.Scale(scheme="blues", domain=[0, 1])),
            tooltip=[
                alt.Tooltip("query:O", title="i"),
                alt.Tooltip("key:O", title="j"),
                alt.Tooltip("weight:Q", format=".3f", title="α_ij"),
                alt.Tooltip("out:N", title="output i"),
                alt.Tooltip("token:N", title="token j"),
            ],
        )
    )
    return _spec(chart.properties(title=alt.Title(title, subtitle=subtitle), height=HEIGHT, width="container"), large)


def attention_chart(
    weights,
    title: str,
    tokens: list | None = None,
    large: bool = False,
    outputs: list | None = None,
    alignment: bool = False,
) -> Figure:
    """One head's attention matrix α for the probe input: T × T self-attention, or with ``alignment``
    an encoder–decoder's U × T alignment (output step i down, source position j across; Bahdanau
    et al. 2015, Fig. 3). ``tokens`` / ``outputs`` label the columns / rows in the tooltip."""
    U, T = weights.shape
    rows = [
        {
            "query": i + 1,
            "key": j + 1,
            "weight": float(weights[i, j]),
            "token": "" if tokens is None else str(tokens[j]),
            "out": "" if outputs is None else str(outputs[i]),
        }
        for i in range(U)
        for j in range(T)
    ]
    if alignment:
        axes = ("source position j", "output step i", "each row sums to 1: where output i reads the source")
    else:
        axes = ("attends to position j (key)", "position i (query)", "each row sums to 1")
    return _fig(_attention_spec(title, large, *axes), alpha=pd.DataFrame(rows))


# -- accuracy by length ------------------------------------------------------------------------------
@functools.lru_cache(maxsize=64)
def _length_spec(labels: tuple[str, ...], metric: str, x_title: str, large: bool) -> dict:
    pretty = metric.replace("_", " ")
    line = (
        alt.Chart(_named("lengths"))
        .mark_line(point=True)
        .encode(
            x=alt.X("length:Q", title=x_title),
            y=alt.Y(
                f"{metric}:Q", title=f"held-out {pretty}", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")
            ),
            color=_color(labels),
            tooltip=[
                alt.Tooltip("run:N"),
                alt.Tooltip("length:Q"),
                alt.Tooltip(f"{metric}:Q", format=".1%"),
                alt.Tooltip("step:Q", title="at training step"),
            ],
        )
    )
    trained = alt.Chart(_named("trained")).mark_rule(strokeDash=[6, 4], color="#666").encode(x="length:Q")
    label = (
        alt.Chart(_named("trained"))
        .mark_text(align="left", dx=4, color="#444", baseline="top")
        .encode(x="length:Q", y=alt.value(4), text=alt.Text("label:N"))
    )
    return _spec(
        alt.layer(line, trained, label).properties(
            title=alt.Title(
                f"{pretty.capitalize()} by input length",
                subtitle="trained on lengths left of the dashed line; right of it the model must extrapolate",
            ),
            height=HEIGHT,
            width="container",
        ),
        large,
    )


def accuracy_by_length_chart(
    rows: pd.DataFrame,
    labels,
    trained_length: int,
    metric: str = "sequence_accuracy",
    x_title: str = "input length n",
    large: bool = False,
) -> Figure:
    """Held-out accuracy at single input lengths (``rows``: run, length, metric, step), one line per
    run, with the longest trained length marked: the bottleneck shows as a fall with n."""
    trained = pd.DataFrame({"length": [trained_length], "label": [f"trained ≤ {trained_length}"]})
    return _fig(_length_spec(tuple(labels), metric, x_title, large), lengths=rows, trained=trained)


# -- SSM kernels -----------------------------------------------------------------------------------
@functools.lru_cache(maxsize=8)
def _kernel_spec(large: bool) -> dict:
    chart = (
        alt.Chart(_named("kernel"))
        .mark_line()
        .encode(
            x=alt.X("lag:Q", title="lag l (time steps back)"),
            y=alt.Y("K:Q", title="kernel weight K_l"),
            color=alt.Color("channel:N", title="channel", scale=alt.Scale(range=COLORS)),
            tooltip=[alt.Tooltip("channel:N"), alt.Tooltip("lag:Q"), alt.Tooltip("K:Q", format=".3g")],
        )
    )
    return _spec(
        chart.properties(
            title=alt.Title(
                "What the state space remembers: its convolution kernel",
                subtitle="y_t = Σ_l K_l u_{t−l}: weight given to the input l steps back",
            ),
            height=HEIGHT,
            width="container",
        ),
        large,
    )


def kernel_chart(kernel, channels: int = 4, large: bool = False) -> Figure:
    """First ``channels`` rows of an SSM kernel K (H × L)."""
    rows = [
        {"channel": f"channel {h + 1}", "lag": l, "K": float(kernel[h, l])}
        for h in range(min(channels, kernel.shape[0]))
        for l in range(kernel.shape[1])
    ]
    return _fig(_kernel_spec(large), kernel=pd.DataFrame(rows))


# -- expert load -----------------------------------------------------------------------------------
@functools.lru_cache(maxsize=16)
def _experts_spec(layer: int, large: bool) -> dict:
    chart = (
        alt.Chart(_named("load"))
        .mark_area(opacity=0.85)
        .encode(
            x=alt.X("step:Q", title="training step"),
            y=alt.Y("share:Q", title="share of routed tokens", stack="normalize", axis=alt.Axis(format="%")),
            color=alt.Color("expert:N", title="expert", scale=alt.Scale(range=COLORS)),
            tooltip=[alt.Tooltip("step:Q"), alt.Tooltip("expert:N"), alt.Tooltip("share:Q", format=".1%")],
        )
    )
    return _spec(
        chart.properties(
            title=alt.Title(f"Expert load, layer {layer}", subtitle="equal bands = balanced; one wide band = collapse"),
            height=int(HEIGHT * 0.8),
            width="container",
        ),
        large,
    )


def expert_load_chart(rows: pd.DataFrame, layer: int, large: bool = False) -> Figure:
    """Share of routing assignments per expert over training, for one layer."""
    return _fig(_experts_spec(layer, large), load=rows[rows["layer"] == layer])


# -- architecture search ------------------------------------------------------------------------
@functools.lru_cache(maxsize=16)
def _pareto_spec(cost: str, metric: str, large: bool) -> dict:
    x_title = "parameters (log)" if cost == "params" else "ms per training step (log)"
    base = alt.Chart(_named("trials")).encode(
        x=alt.X(f"{cost}:Q", title=x_title, scale=alt.Scale(type="log")),
        y=alt.Y("metric:Q", title=f"held-out {metric.replace('_', ' ')}"),
    )
    points = base.mark_point(filled=True, size=90).encode(
        color=alt.Color("family:N", title="family", scale=alt.Scale(range=COLORS)),
        shape=alt.Shape(
            "front:N", title="", scale=alt.Scale(domain=["Pareto front", "dominated"], range=["diamond", "circle"])
        ),
        opacity=alt.Opacity(
            "front:N", scale=alt.Scale(domain=["Pareto front", "dominated"], range=[1.0, 0.45]), legend=None
        ),
        tooltip=[
            alt.Tooltip("label:N", title="architecture"),
            alt.Tooltip("rung:Q"),
            alt.Tooltip("steps:Q"),
            alt.Tooltip("metric:Q", format=".4g"),
            alt.Tooltip("params:Q", format=","),
            alt.Tooltip("ms_per_step:Q", format=".2f"),
        ],
    )
    line = (
        alt.Chart(_named("front"))
        .mark_line(strokeDash=[4, 3], color="#444")
        .encode(x=alt.X(f"{cost}:Q"), y=alt.Y("metric:Q"))
    )
    return _spec(
        alt.layer(line, points).properties(
            title=alt.Title(
                f"Accuracy vs {'size' if cost == 'params' else 'speed'}",
                subtitle="◆ and dashes: the Pareto front (nothing is better on both axes)",
            ),
            height=HEIGHT,
            width="container",
        ),
        large,
    )


def pareto_chart(result, cost: str = "params", large: bool = False) -> Figure:
    """Every architecture at its longest training (a ``seqlab.search.SearchResult``), with the Pareto
    front of score vs ``cost``."""
    from ..search import latest_per_architecture

    front = result.pareto_params if cost == "params" else result.pareto_time
    front_labels = {t.label for t in front}
    latest = {t.label: t for t in latest_per_architecture(result.trials)}
    rows = [
        {
            **{k: v for k, v in t.to_json().items() if k != "arch"},
            "family": t.arch["model"],
            "front": "Pareto front" if t.label in front_labels else "dominated",
        }
        for t in latest.values()
    ]
    df = pd.DataFrame(rows)
    front_df = df[df["front"] == "Pareto front"].sort_values(cost) if len(df) else df
    return _fig(_pareto_spec(cost, result.metric, large), trials=df, front=front_df)


# -- inside the cell / per parameter / attention entropy ------------------------------------------
@functools.lru_cache(maxsize=32)
def _lines_spec(
    title: str,
    subtitle: str,
    x: str,
    x_title: str,
    y: str,
    y_title: str,
    color: str,
    log: bool,
    percent: bool,
    large: bool,
) -> dict:
    y_enc = alt.Y(
        f"{y}:Q",
        title=y_title,
        scale=alt.Scale(type="log") if log else alt.Scale(),
        axis=alt.Axis(format=".1~%") if percent else alt.Axis(format="~g"),  # 0.5 %, never 0.000000 %
    )
    chart = (
        alt.Chart(_named("rows"))
        .mark_line(point=alt.OverlayMarkDef(size=10))
        .encode(
            x=alt.X(f"{x}:Q", title=x_title),
            y=y_enc,
            color=alt.Color(f"{color}:N", title=color, scale=alt.Scale(range=COLORS)),
            tooltip=[alt.Tooltip(f"{color}:N"), alt.Tooltip(f"{x}:Q"), alt.Tooltip(f"{y}:Q", format=".3g")],
        )
    )
    return _spec(
        chart.properties(title=alt.Title(title, subtitle=subtitle), height=int(HEIGHT * 0.8), width="container"), large
    )


def gate_saturation_chart(rows: pd.DataFrame, label: str, large: bool = False) -> Figure:
    """Share of saturated gate units (σ < 0.05 or > 0.95) per time step, one line per gate."""
    return _fig(
        _lines_spec(
            f"Saturated gates — {label}",
            "a saturated gate passes almost no gradient",
            "t",
            "time step t",
            "saturated",
            "share of units saturated",
            "gate",
            False,
            True,
            large,
        ),
        rows=rows,
    )


def param_norms_chart(rows: pd.DataFrame, large: bool = False) -> Figure:
    """Gradient norm of every parameter tensor over training (log scale)."""
    return _fig(
        _lines_spec(
            "Gradient norm per parameter tensor",
            "first run shown · before clipping",
            "step",
            "training step",
            "norm",
            "‖∂L/∂θ‖ (log scale)",
            "param",
            True,
            False,
            large,
        ),
        rows=rows,
    )


def attention_entropy_chart(rows: pd.DataFrame, large: bool = False) -> Figure:
    """Mean entropy of each head's attention rows over training (nats): low = sharp, focused heads."""
    return _fig(
        _lines_spec(
            "Attention entropy per head",
            "ln T = uniform attention; 0 = one position",
            "step",
            "training step",
            "entropy",
            "entropy (nats)",
            "head",
            False,
            False,
            large,
        ),
        rows=rows,
    )


# -- language-model experiments (seqlab.experiments) -------------------------------------------------
FINETUNE_ARMS = ("pre-trained", "from scratch")


@functools.lru_cache(maxsize=8)
def _finetune_spec(metric: str, large: bool) -> dict:
    if metric == "accuracy":
        y = alt.Y("value:Q", title="held-out accuracy", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%"))
        title, ref = "Fine-tuning on few labels: accuracy", "chance"
    else:
        y = alt.Y("value:Q", title="held-out loss (cross-entropy, nats)")
        title, ref = "Fine-tuning on few labels: loss", "blind guess"
    line = (
        alt.Chart(_named("curves"))
        .mark_line(point=alt.OverlayMarkDef(size=18))
        .encode(
            x=alt.X("examples:Q", title="labelled examples seen (fine-tuning step × batch)"),
            y=y,
            color=_color(FINETUNE_ARMS),
            tooltip=[
                alt.Tooltip("run:N"),
                alt.Tooltip("step:Q", title="fine-tuning step"),
                alt.Tooltip("examples:Q", title="labelled examples"),
                alt.Tooltip("value:Q", format=".3g", title=metric),
            ],
        )
    )
    return _spec(
        alt.layer(line, *_baseline_layers(ref)).properties(
            title=alt.Title(title, subtitle="same model, same labelled examples; only the starting weights differ"),
            height=HEIGHT,
            width="container",
        ),
        large,
    )


def finetune_chart(result, metric: str = "accuracy", large: bool = False) -> Figure:
    """Held-out accuracy (or loss) of the pre-trained and the from-scratch model against labelled examples
    seen, from ``seqlab.experiments.pretrain.run_pretrain``'s result. Datasets: ``curves`` (run, step,
    examples, value) and ``baseline`` (y, label: chance or the blind loss)."""
    ft = result.finetune
    rows = [
        {"run": arm, "step": e["step"], "examples": e["examples"], "value": e[metric]}
        for arm in FINETUNE_ARMS
        for e in ft.runs[arm].history["eval"]
    ]
    base = ft.chance if metric == "accuracy" else ft.blind_loss
    label = "chance" if metric == "accuracy" else "blind guess"
    return _fig(
        _finetune_spec(metric, large),
        curves=pd.DataFrame(rows, columns=["run", "step", "examples", "value"]),
        baseline=pd.DataFrame({"y": [base], "label": [label]}),
    )


SCALING_SERIES = ("measured", "power-law fit", "irreducible loss")


@functools.lru_cache(maxsize=8)
def _scaling_spec(minus_c: bool, floor: bool, large: bool) -> dict:
    x = alt.X("N:Q", title="non-embedding parameters N (log)", scale=alt.Scale(type="log"), axis=alt.Axis(format="~s"))
    y_scale = alt.Scale(type="log", zero=False, nice=False)
    series = SCALING_SERIES if floor else SCALING_SERIES[:2]
    if minus_c:
        y_title = "reducible loss L − c, nats per token (log)"
        subtitle = "every model trained on the same tokens · L − c = a·N^(−α) is a straight line on log–log axes"
    else:
        y_title = "held-out loss L, nats per token (log)"
        subtitle = "every model trained on the same tokens · a power law is a straight line on log–log axes"
    if floor:
        subtitle += " · dashes: the loss no model can beat"
    color = alt.Color(
        "series:N",
        title="",
        scale=alt.Scale(domain=list(series), range=[COLORS[0], COLORS[1], "#666"][: len(series)]),
    )
    fit_line = (
        alt.Chart(_named("fit"))
        .mark_line(strokeWidth=2)
        .encode(x=x, y=alt.Y("loss:Q", title=y_title, scale=y_scale), color=color)
    )
    floor_line = (
        alt.Chart(_named("floor"))
        .mark_line(strokeDash=[6, 4], strokeWidth=1.5)
        .encode(x=x, y=alt.Y("loss:Q", title=y_title, scale=y_scale), color=color)
    )
    points = (
        alt.Chart(_named("points"))
        .mark_point(filled=True, size=90)
        .encode(
            x=x,
            y=alt.Y("loss:Q", title=y_title, scale=y_scale),
            color=color,
            tooltip=[
                alt.Tooltip("width:Q", title="hidden size d"),
                alt.Tooltip("N:Q", format=",", title="non-embedding parameters"),
                alt.Tooltip("loss:Q", format=".4g", title="loss"),
                alt.Tooltip("seconds:Q", format=".1f"),
            ],
        )
    )
    note = (
        alt.Chart(_named("note"))
        .mark_text(align="right", baseline="top", dx=-4, dy=4, color="#333")
        .encode(x=alt.value("width"), y=alt.value(0), text=alt.Text("text:N"))
    )
    return _spec(
        alt.layer(*([floor_line] if floor else []), fit_line, points, note).properties(
            title=alt.Title("Held-out loss vs model size", subtitle=subtitle),
            height=HEIGHT,
            width="container",
        ),
        large,
    )


def scaling_chart(result, reducible: bool = True, large: bool = False) -> Figure:
    """Loss against non-embedding parameters on log–log axes, from ``run_scaling``'s result: the measured
    points and the fitted power law L = a·N^(−α) + c. With ``reducible`` and a fitted c > 0 the y axis is
    L − c, where the fit is a straight line; otherwise L itself, with the irreducible loss dashed (the
    fit's c, else the task's exact Bayes loss ``bayes_loss``). Datasets: ``points`` (series, width, N, loss,
    seconds; ``loss`` is L − c in the reducible view), ``fit`` and ``floor`` (series, N, loss), ``note``
    (text: the fitted exponent)."""
    f = result.fit
    minus_c = reducible and (f.c or 0.0) > 0
    c = f.c if minus_c else 0.0
    level = None if minus_c else (f.c or result.bayes_loss)
    pts = [p for p in result.points if p.loss is not None and p.loss > c]
    points = pd.DataFrame(
        [
            {
                "series": "measured",
                "width": p.width,
                "N": p.non_embedding_params,
                "loss": p.loss - c,
                "seconds": p.seconds,
            }
            for p in pts
        ],
        columns=["series", "width", "N", "loss", "seconds"],
    )
    fit_rows, floor_rows, text = [], [], ""
    if pts:
        lo, hi = min(points["N"]) / 1.5, max(points["N"]) * 1.5
        if f.ok:
            ns = [lo * (hi / lo) ** (i / 40) for i in range(41)]
            fit_rows = [{"series": "power-law fit", "N": n, "loss": f.a * n ** (-f.alpha) + f.c - c} for n in ns]
            text = f"α = {f.alpha:.3f} ± {f.alpha_stderr:.3f}" + (f", c = {f.c:.3g}" if f.c else "")
        if level:
            floor_rows = [{"series": "irreducible loss", "N": n, "loss": level} for n in (lo, hi)]
    return _fig(
        _scaling_spec(minus_c, bool(floor_rows), large),
        points=points,
        fit=pd.DataFrame(fit_rows, columns=["series", "N", "loss"]),
        floor=pd.DataFrame(floor_rows, columns=["series", "N", "loss"]),
        note=pd.DataFrame({"text": [text]}),
    )


FEWSHOT_SERIES = ("model (frozen GPT)", "ideal in-context learner", "chance")


@functools.lru_cache(maxsize=4)
def _fewshot_spec(large: bool) -> dict:
    x = alt.X(
        "k:Q", title="in-context examples k", scale=alt.Scale(zero=False), axis=alt.Axis(tickMinStep=1, format="d")
    )
    y = alt.Y("accuracy:Q", title="held-out accuracy on new mappings", scale=alt.Scale(domain=[0, 1]))
    lines = (
        alt.Chart(_named("rows"))
        .mark_line(point=alt.OverlayMarkDef(size=30))
        .encode(
            x=x,
            y=y.axis(format="%"),
            color=alt.Color(
                "series:N",
                title="",
                scale=alt.Scale(domain=list(FEWSHOT_SERIES), range=[COLORS[0], COLORS[1], "#666"]),
            ),
            strokeDash=alt.StrokeDash(
                "series:N", title="", scale=alt.Scale(domain=list(FEWSHOT_SERIES), range=[[1, 0], [6, 3], [2, 3]])
            ),
            tooltip=[alt.Tooltip("series:N"), alt.Tooltip("k:Q"), alt.Tooltip("accuracy:Q", format=".1%")],
        )
    )
    trained = alt.Chart(_named("trained")).mark_rule(strokeDash=[6, 4], color="#999").encode(x="k:Q")
    label = (
        alt.Chart(_named("trained"))
        .mark_text(align="left", dx=4, color="#444", baseline="top")
        .encode(x="k:Q", y=alt.value(4), text=alt.Text("label:N"))
    )
    return _spec(
        alt.layer(lines, trained, label).properties(
            title=alt.Title(
                "Few-shot in context: accuracy vs number of examples",
                subtitle="no gradient steps at test time · right of the dashed line: more examples than in training",
            ),
            height=HEIGHT,
            width="container",
        ),
        large,
    )


def fewshot_chart(result, large: bool = False) -> Figure:
    """Accuracy against the number of in-context examples k, from ``run_fewshot``'s result, with the ideal
    in-context learner and chance. Datasets: ``rows`` (series, k, accuracy) and ``trained`` (k, label)."""
    rows = []
    for r in result.rows:
        rows += [
            {"series": FEWSHOT_SERIES[0], "k": r.k, "accuracy": r.accuracy},
            {"series": FEWSHOT_SERIES[1], "k": r.k, "accuracy": r.ideal},
            {"series": FEWSHOT_SERIES[2], "k": r.k, "accuracy": r.chance},
        ]
    k = result.train_max
    return _fig(
        _fewshot_spec(large),
        rows=pd.DataFrame(rows, columns=["series", "k", "accuracy"]),
        trained=pd.DataFrame({"k": [k], "label": [f"trained k ≤ {k}"]}),
    )


# -- sweeps ----------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=32)
def _sweep_band_spec(
    x: str, x_title: str, metric: str, labels: tuple[str, ...], log_x: bool, large: bool, ticks: tuple = ()
) -> dict:
    color = alt.Color("series:N", title="model", scale=alt.Scale(domain=list(labels), range=COLORS[: len(labels)]))
    scale = alt.Scale(type="log") if log_x else alt.Scale(zero=False)
    # ticks at the swept values themselves (a grid of lengths 4, 8 is not a continuum of 4.2, 4.4, …)
    axis = alt.Axis(format="~g", values=list(ticks)) if ticks else alt.Axis(format="~g")
    xenc = alt.X("x:Q", title=x_title, scale=scale, axis=axis)
    band = (
        alt.Chart(_named("cells"))
        .mark_area(opacity=0.2)
        .encode(x=xenc, y=alt.Y("lo:Q", title=f"final held-out {metric}"), y2="hi:Q", color=color, detail="series:N")
    )
    line = (
        alt.Chart(_named("cells"))
        .mark_line(point=alt.OverlayMarkDef(size=50, filled=True))
        .encode(
            x=xenc,
            y=alt.Y("mean:Q", title=f"final held-out {metric}"),
            color=color,
            tooltip=[
                alt.Tooltip("series:N"),
                alt.Tooltip("x:Q", title=x),
                alt.Tooltip("mean:Q", format=".4g"),
                alt.Tooltip("std:Q", format=".2g", title="std over seeds"),
                alt.Tooltip("n:Q", title="seeds"),
            ],
        )
    )
    return _spec(
        alt.layer(band, line).properties(
            title=alt.Title(f"Final held-out {metric} vs {x}", subtitle="line = mean over seeds · band = mean ± 1 std"),
            height=HEIGHT,
            width="container",
        ),
        large,
    )


def sweep_band_chart(rows: pd.DataFrame, x: str, x_title: str, metric: str, large: bool = False) -> Figure:
    """A sweep's metric against one numeric setting, one line per series (e.g. model) with a seed band.
    ``rows``: series, x, mean, std, lo, hi, n (``seqlab.ui.sweeps.band_rows``)."""
    labels = tuple(dict.fromkeys(rows["series"])) if len(rows) else ()
    log_x = bool(len(rows)) and rows["x"].min() > 0 and rows["x"].max() / rows["x"].min() >= 10
    ticks = tuple(sorted(set(rows["x"].tolist()))) if len(rows) else ()
    ticks = ticks if len(ticks) <= 12 else ()
    return _fig(_sweep_band_spec(x, x_title, metric, labels, log_x, large, ticks), cells=rows)


@functools.lru_cache(maxsize=32)
def _sweep_heatmap_spec(x: str, y: str, metric: str, large: bool) -> dict:
    base = alt.Chart(_named("cells")).encode(
        x=alt.X("x:O", title=x, axis=alt.Axis(labelAngle=0)),
        y=alt.Y("y:O", title=y),
    )
    rect = base.mark_rect().encode(
        color=alt.Color("mean:Q", title=f"mean {metric}", scale=alt.Scale(scheme="viridis")),
        tooltip=[
            alt.Tooltip("x:O", title=x),
            alt.Tooltip("y:O", title=y),
            alt.Tooltip("mean:Q", format=".4g", title=f"mean {metric}"),
            alt.Tooltip("n:Q", title="seeds"),
        ],
    )
    # light text on the dark (low) half of viridis, dark text on the light half
    text = (
        base.transform_joinaggregate(lo_="min(mean)", hi_="max(mean)")
        .mark_text(fontSize=11)
        .encode(
            text=alt.Text("mean:Q", format=".3g"),
            color=alt.condition("datum.mean < (datum.lo_ + datum.hi_) / 2", alt.value("white"), alt.value("black")),
        )
    )
    return _spec(
        alt.layer(rect, text).properties(
            title=alt.Title(f"Mean final {metric} over {x} × {y}", subtitle="each cell: mean over its seeds"),
            height=HEIGHT,
            width="container",
        ),
        large,
    )


def sweep_heatmap(rows: pd.DataFrame, x: str, y: str, metric: str, large: bool = False) -> Figure:
    """A sweep's metric over two settings (``rows``: x, y, mean, n)."""
    return _fig(_sweep_heatmap_spec(x, y, metric, large), cells=rows)
