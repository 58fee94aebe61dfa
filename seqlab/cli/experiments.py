"""The language-model experiments (``seqlab.experiments``): ``pretrain``, ``scaling``, ``fewshot``.
Their flags are built from their config classes, so the CLI and the library cannot drift apart."""

from __future__ import annotations

import argparse
import sys

from ..experiments.base import no_observers
from ..schema import specs
from .common import add_json_flag, flag, progress_bars


def add_experiment_flags(p: argparse.ArgumentParser, cls) -> None:
    """One flag per config field (``seqlab.schema``: the pages' widgets read the same specs)."""
    for spec in specs(cls):
        p.add_argument(flag(spec.name), dest=spec.name, help=f"{spec.help or spec.name} (default {spec.shown_default})")
    add_json_flag(p, quiet="no progress on stderr")


def experiment_config(args: argparse.Namespace, cls):
    data = {}
    for spec in specs(cls):
        value = getattr(args, spec.name, None)
        if value is not None and spec.kind == "int_list":
            value = spec.parse_list(value, f"{cls.section}.{spec.name}")
        data[spec.name] = value
    return cls.build(data)


def _recorded(args, name: str, observers):
    """Every training of the experiment recorded in the run database, as one group tagged ``name``."""
    from ..store import new_run_id, recorded, usable_store

    return recorded(observers, usable_store(), group_id=f"{name}-{new_run_id('cli', name)}", tag=name, source="cli")


def register(sub) -> None:
    from ..experiments.fewshot import FewShotConfig
    from ..experiments.pretrain import PretrainConfig
    from ..experiments.scaling import ScalingConfig

    for name, cls, func, show, text in (
        (
            "pretrain",
            PretrainConfig,
            pretrain,
            show_pretrain,
            "BERT: masked-token pre-training, then few-label fine-tuning",
        ),
        ("scaling", ScalingConfig, scaling, show_scaling, "held-out loss vs GPT size under one budget, power-law fit"),
        ("fewshot", FewShotConfig, fewshot, show_fewshot, "in-context accuracy vs number of examples k, frozen GPT"),
    ):
        s = sub.add_parser(name, help=text)
        add_experiment_flags(s, cls)
        s.set_defaults(func=func, view=show)


def pretrain(args):
    from ..experiments.pretrain import PretrainConfig, run_pretrain

    return run_pretrain(experiment_config(args, PretrainConfig), _recorded(args, "pretrain", progress_bars(args)))


def show_pretrain(out, args) -> None:
    from ..experiments.pretrain import ARMS

    pre, ft = out.pretrain, out.finetune
    print(
        f"pre-training (masked tokens): held-out accuracy {pre.accuracy:.3f} on the masked positions "
        f"(chance {pre.chance:.3f}) after {pre.steps} steps, {pre.seconds:.1f}s"
    )
    c = out.config
    print(
        f"fine-tuning on {ft.labelled_examples} labelled examples ({c['finetune_steps']} steps × "
        f"{c['finetune_batch']}), held-out accuracy (chance {ft.chance:.3f}, Bayes ceiling {ft.ceiling:.3f}):"
    )
    for arm in ARMS:
        r = ft.runs[arm]
        print(f"  {arm:<13} {r.final_accuracy:.3f}  (loss {r.final_loss:.3f}, {r.seconds:.1f}s)")
    print(f"gain from pre-training: {out.gain:+.3f} accuracy")


def scaling(args):
    from ..experiments.scaling import ScalingConfig, run_scaling

    config = experiment_config(args, ScalingConfig)
    total = len(config.widths)
    done = []

    def on_point(p) -> None:
        done.append(p)
        if not args.quiet:
            print(
                f"[{len(done)}/{total}] d={p.width}: N={p.non_embedding_params:,} non-embedding parameters, "
                f"held-out loss {p.loss:.4g} ({p.seconds:.1f}s)",
                file=sys.stderr,
                flush=True,
            )

    return run_scaling(config, _recorded(args, "scaling", no_observers), on_point)


def show_scaling(out, args) -> None:
    print(f"{'d':>5} {'N (non-emb.)':>13} {'params':>9} {'loss':>8} {'seconds':>8}")
    for p in out.points:
        print(f"{p.width:>5} {p.non_embedding_params:>13,} {p.params:>9,} {p.loss:>8.4f} {p.seconds:>8.1f}")
    print("fit L(N) = a·N^(−α) + c, least squares on log–log axes:")
    for mode, f in out.fits.items():
        chosen = " ← --irreducible" if mode == out.config["irreducible"] else ""
        where = {"bayes": "c = the exact Bayes loss", "fit": "c fitted", "none": "c = 0"}[mode]
        if not f.ok:
            print(f"  {where:<26} no fit: {f.error}{chosen}")
            continue
        print(
            f"  {where:<26} α = {f.alpha:.3f} ± {f.alpha_stderr:.3f} (95 % ± {f.alpha_ci95:.3f}, "
            f"{f.dof} dof), a = {f.a:.4g}, c = {f.c:.4f}, log residual {f.rmse_log:.3f}{chosen}"
        )
    print(
        f"every model saw {out.tokens:,} tokens; blind loss ln V = {out.blind_loss:.3f}, "
        f"Bayes floor {out.bayes_loss:.3f}. A CPU toy: ~2 orders of magnitude of N, one budget, "
        "few points — the exponent describes this corpus and budget (Kaplan et al. 2020 measured "
        "α ≈ 0.076 on WebText2 over six orders)."
    )


def fewshot(args):
    from ..experiments.fewshot import FewShotConfig, run_fewshot

    return run_fewshot(experiment_config(args, FewShotConfig), _recorded(args, "fewshot", progress_bars(args)))


def show_fewshot(out, args) -> None:
    print(f"{'k':>4} {'accuracy':>9} {'ideal':>7} {'chance':>7}")
    for r in out.rows:
        mark = "" if r.trained else "   (more examples than in training)"
        print(f"{r.k:>4} {r.accuracy:>9.3f} {r.ideal:>7.3f} {r.chance:>7.3f}{mark}")
    print(
        f"trained with k = 1…{out.train_max} examples per prompt; every mapping scored here is new, so "
        f"what is right was read from the context ({out.params:,} parameters, {out.seconds:.1f}s)"
    )
