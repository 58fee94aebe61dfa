"""``seqlab classics``: the classic LSTM-vs-RNN results with default settings."""

from __future__ import annotations

from .common import add_json_flag, progress_bars


def register(sub) -> None:
    s = sub.add_parser("classics", help="reproduce the classic LSTM-vs-RNN results with default settings")
    add_json_flag(s, quiet="no progress bar")
    s.set_defaults(func=run, view=show)


def run(args) -> list:
    from ..classics import run_classics

    return run_classics(progress_bars(args))


def show(rows: list, args) -> None:
    for r in rows:
        verdict = "reproduced" if r["reproduced"] else "NOT reproduced"
        print(f"{r['classic']}: {verdict} — {r['claim']}")
        print(
            f"  LSTM {r['lstm_metrics']} in {r['lstm_seconds']:.1f}s; "
            f"RNN {r['rnn_metrics']} in {r['rnn_seconds']:.1f}s; "
            f"RNN ‖∂L/∂x_1‖/‖∂L/∂x_T‖ = {r['rnn_grad_first_over_last']:.2g}"
        )
