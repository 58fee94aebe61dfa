"""Altair chart builders, one per chart kind, shared by every page (pure: no st.* here).

Every builder takes tidy pandas frames (see ``seqlab.ui.frames``) and the run labels in display
order, so a run has the same colour in every panel of every page.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

# colour-blind-safe categorical palette (Okabe & Ito 2008)
COLORS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
HEIGHT = 280


def color_scale(labels: list[str]) -> alt.Scale:
    return alt.Scale(domain=list(labels), range=COLORS[: max(1, len(labels))])


def style(chart: alt.TopLevelMixin, large: bool = False) -> alt.TopLevelMixin:
    """Readable defaults; ``large`` for a projector at the back of a classroom."""
    s = 1.45 if large else 1.0
    return (
        chart.configure_axis(labelFontSize=12 * s, titleFontSize=13 * s, grid=True, gridOpacity=0.4)
        .configure_legend(labelFontSize=12 * s, titleFontSize=12 * s, orient="bottom")
        .configure_title(fontSize=15 * s, anchor="start")
        .configure_view(strokeWidth=0)
    )


def loss_chart(
    train: pd.DataFrame,
    labels: list[str],
    baseline: float | None = None,
    held_out: pd.DataFrame | None = None,
    y_title: str = "loss",
    large: bool = False,
) -> alt.TopLevelMixin:
    """Training loss vs step: raw curve faded, smoothed curve on top, held-out loss as points,
    and the blind baseline as a dashed rule."""
    color = alt.Color("run:N", scale=color_scale(labels), title="run")
    x = alt.X("step:Q", title="training step")
    base = alt.Chart(train)
    layers = [
        base.mark_line(opacity=0.25, strokeWidth=1).encode(x=x, y=alt.Y("loss:Q", title=y_title), color=color),
        base.mark_line(strokeWidth=2.5).encode(
            x=x,
            y="smoothed:Q",
            color=color,
            tooltip=["run", "step", alt.Tooltip("smoothed:Q", format=".4g", title="smoothed loss")],
        ),
    ]
    if held_out is not None and len(held_out):
        layers.append(
            alt.Chart(held_out)
            .mark_point(filled=True, size=45, shape="diamond")
            .encode(
                x=x,
                y="loss:Q",
                color=color,
                tooltip=["run", "step", alt.Tooltip("loss:Q", format=".4g", title="held-out loss")],
            )
        )
    if baseline is not None:
        layers += _baseline(baseline, "blind baseline")
    return style(
        alt.layer(*layers).properties(
            title=alt.Title("Loss", subtitle="faded: raw · line: smoothed · ◆: held-out · dashed: blind baseline"),
            height=HEIGHT,
            width="container",
        ),
        large,
    )


def _baseline(value: float, text: str) -> list[alt.Chart]:
    df = pd.DataFrame({"y": [value], "label": [text]})
    rule = alt.Chart(df).mark_rule(strokeDash=[6, 4], color="#666", strokeWidth=1.5).encode(y="y:Q")
    label = (
        alt.Chart(df).mark_text(align="left", dx=4, dy=-7, color="#444").encode(y="y:Q", x=alt.value(2), text="label:N")
    )
    return [rule, label]


def metric_chart(
    held_out: pd.DataFrame, metric: str, labels: list[str], baseline: float | None = None, large: bool = False
) -> alt.TopLevelMixin:
    """A held-out metric (accuracy, MSE, …) vs step, with its blind baseline."""
    color = alt.Color("run:N", scale=color_scale(labels), title="run")
    pretty = metric.replace("_", " ")
    y = alt.Y(f"{metric}:Q", title=f"held-out {pretty}")
    if "accuracy" in metric:
        y = alt.Y(f"{metric}:Q", title=f"held-out {pretty}", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%"))
    layers = [
        alt.Chart(held_out)
        .mark_line(point=True)
        .encode(
            x=alt.X("step:Q", title="training step"),
            y=y,
            color=color,
            tooltip=["run", "step", alt.Tooltip(f"{metric}:Q", format=".4g")],
        )
    ]
    if baseline is not None:
        layers += _baseline(baseline, "chance")
    return style(
        alt.layer(*layers).properties(title=f"Held-out {pretty}", height=int(HEIGHT * 0.6), width="container"), large
    )


def grad_heatmap(grads: pd.DataFrame, label: str, large: bool = False, domain=(-8, 0)) -> alt.TopLevelMixin:
    """log10 ‖∂L/∂x_t‖: input time step t across, training step down. Vanishing gradients show
    as a dark band on the left (early inputs get almost no signal)."""
    return style(
        alt.Chart(grads)
        .mark_rect()
        .encode(
            x=alt.X("t:O", title="input time step t", axis=alt.Axis(labelOverlap=True, labelAngle=0)),
            y=alt.Y("step:O", title="training step", axis=alt.Axis(labelOverlap=True)),
            color=alt.Color(
                "log10:Q", title="log10 ‖∂L/∂x_t‖", scale=alt.Scale(scheme="viridis", domain=list(domain), clamp=True)
            ),
            tooltip=["step", "t", alt.Tooltip("norm:Q", format=".3e", title="‖∂L/∂x_t‖")],
        )
        .properties(
            title=alt.Title(f"Gradient reaching each input — {label}", subtitle="brighter = more learning signal"),
            height=HEIGHT,
            width="container",
        ),
        large,
    )


def grad_latest_chart(latest: pd.DataFrame, labels: list[str], large: bool = False) -> alt.TopLevelMixin:
    """‖∂L/∂x_t‖ at each run's latest logged step, log scale."""
    color = alt.Color("run:N", scale=color_scale(labels), title="run")
    return style(
        alt.Chart(latest)
        .mark_line(point=alt.OverlayMarkDef(size=12))
        .encode(
            x=alt.X("t:Q", title="input time step t"),
            y=alt.Y("norm:Q", title="‖∂L/∂x_t‖ (log scale)", scale=alt.Scale(type="log")),
            color=color,
            tooltip=["run", "step", "t", alt.Tooltip("norm:Q", format=".3e")],
        )
        .properties(title="Gradient by input step, latest training step", height=int(HEIGHT * 0.75), width="container"),
        large,
    )


def complexity_chart(
    rows: pd.DataFrame, labels: list[str], metric: str = "ms", large: bool = False
) -> alt.TopLevelMixin:
    """Measured points and the declared theory curve (dashed), log–log, per model."""
    if metric == "ms":
        y_col, theory, title, y_title = "ms", "theory_ms", "Time per training step", "ms per step (log)"
    else:
        rows = rows.assign(mib=rows["activation_bytes"] / 2**20, theory_mib=rows["theory_bytes"] / 2**20)
        y_col, theory, title, y_title = "mib", "theory_mib", "Activations saved for backward", "MiB (log)"
    color = alt.Color("model:N", scale=color_scale(labels), title="model")
    x = alt.X("n:Q", title="sequence length n (log)", scale=alt.Scale(type="log"))
    measured = (
        alt.Chart(rows)
        .mark_line(point=alt.OverlayMarkDef(size=50, filled=True))
        .encode(
            x=x,
            y=alt.Y(f"{y_col}:Q", title=y_title, scale=alt.Scale(type="log")),
            color=color,
            tooltip=["model", "n", "d", alt.Tooltip(f"{y_col}:Q", format=".3g", title="measured")],
        )
    )
    theory_line = (
        alt.Chart(rows)
        .mark_line(strokeDash=[5, 4], opacity=0.7)
        .encode(
            x=x,
            y=f"{theory}:Q",
            color=color,
            detail="model:N",
            tooltip=["model", alt.Tooltip("theory_time:N" if metric == "ms" else "theory_memory:N", title="theory")],
        )
    )
    return style(
        alt.layer(theory_line, measured).properties(
            title=alt.Title(title, subtitle="solid: measured · dashed: declared cost, scaled to the largest n"),
            height=int(HEIGHT * 0.8),
            width="container",
        ),
        large,
    )


def timeline_chart(milestones: pd.DataFrame, large: bool = False) -> alt.TopLevelMixin:
    """The lineage: year across, one mark per milestone, paper on hover, click opens its page."""
    base = alt.Chart(milestones).encode(
        x=alt.X(
            "year:Q",
            title="year",
            scale=alt.Scale(domain=[1983, 2026], nice=False),
            axis=alt.Axis(format="d", tickCount=12),
        ),
        y=alt.Y("lane:O", axis=None),
        tooltip=["title", "year", "paper", alt.Tooltip("page:N", title="see it on page")],
        href="href:N",
    )
    points = base.mark_circle(size=260, opacity=0.9).encode(
        color=alt.Color("era:N", title="era", scale=alt.Scale(range=COLORS))
    )
    text = base.mark_text(align="left", dx=11, fontSize=13 * (1.3 if large else 1)).encode(text="title:N")
    return style(
        alt.layer(points, text).properties(
            title="From backprop to today: click a milestone", height=260, width="container"
        ),
        large,
    )
