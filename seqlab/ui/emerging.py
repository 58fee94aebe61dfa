"""The Emerging page's two model-specific panels: an S4D run's convolution kernel and a mixture of
experts' load per expert. They read the finished model (torch), which a page must not do itself."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from . import charts
from .panels import show
from .state import large_fonts, page_runs, registry


def kernel_section(page: str) -> None:
    """The first layer's convolution kernel of the page's finished S4D run."""
    import torch

    ssm_runs = [
        r
        for r in registry().visible(page_runs(page))
        if r.trainer and not r.alive and r.trainer.model.capabilities.conv_kernel
    ]
    if not ssm_runs:
        st.caption("Train the S4D model (`ssm`): once it finishes, its first layer's convolution kernel is drawn here.")
        return
    model = ssm_runs[0].trainer.model
    with torch.no_grad():
        K = model.conv_kernel(ssm_runs[0].trainer.task.spec.length)[0].cpu().numpy()
    show(charts.kernel_chart(K, large=large_fonts()))
    st.caption("Slowly decaying, oscillating kernels reach far back: that is the memory the copy task needs.")


def experts_section(page: str) -> None:
    """The share of tokens each expert receives, per layer, with total and active parameter counts."""
    moe_runs = [
        r
        for r in registry().visible(page_runs(page))
        if r.trainer and r.observers and r.trainer.model.capabilities.expert_load
    ]
    if not moe_runs:
        st.caption(
            "Train the mixture of experts (`moe`): the share of tokens each expert receives appears here, "
            "one chart per layer, with total and active parameter counts."
        )
        return
    run = moe_runs[0]
    load = pd.DataFrame(run.observers[0].snapshot())
    model = run.trainer.model
    st.markdown(
        f"**{model.param_count():,}** parameters in total, **{model.active_param_count():,}** active per "
        f"token ({model.opts.top_k} of {model.opts.experts} experts per layer)."
    )
    if len(load):
        cols = st.columns(int(load["layer"].max()))
        for layer, col in enumerate(cols, start=1):
            with col:
                show(charts.expert_load_chart(load, layer, large_fonts()))
