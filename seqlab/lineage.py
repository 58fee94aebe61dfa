"""The lineage from the seed (shared/seed/sequence-modeling-history.md) as data for the home page."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Milestone:
    year: int
    title: str
    paper: str
    era: str
    page: str  # url path of the page that runs it ("" if no page yet)
    lane: int  # vertical slot on the timeline, to keep labels apart


MILESTONES = (
    Milestone(1986, "Backpropagation (MLP)", "Rumelhart, Hinton & Williams (1986)", "foundations", "foundations", 0),
    Milestone(1990, "Elman RNN", "Elman (1990), Finding Structure in Time", "recurrent", "recurrent", 1),
    Milestone(1997, "LSTM", "Hochreiter & Schmidhuber (1997)", "recurrent", "recurrent", 2),
    Milestone(2014, "GRU", "Cho et al. (2014)", "recurrent", "recurrent", 0),
    Milestone(2014, "Seq2Seq", "Sutskever, Vinyals & Le (2014)", "attention", "seq2seq", 1),
    Milestone(2014, "Bahdanau attention", "Bahdanau, Cho & Bengio (2014)", "attention", "seq2seq", 2),
    Milestone(2015, "Luong attention", "Luong, Pham & Manning (2015)", "attention", "seq2seq", 3),
    Milestone(
        2017, "Transformer", "Vaswani et al. (2017), Attention Is All You Need", "transformers", "transformers", 4
    ),
    Milestone(2018, "BERT", "Devlin et al. (2018)", "transformers", "transformers", 5),
    Milestone(2019, "GPT-2", "Radford et al. (2019)", "transformers", "language", 6),
    Milestone(2020, "GPT-3 (few-shot)", "Brown et al. (2020)", "transformers", "language", 7),
    Milestone(2017, "Mixture of experts", "Shazeer et al. (2017)", "emerging", "emerging", 8),
    Milestone(2022, "State-space models (S4D)", "Gu et al. (2022)", "emerging", "emerging", 9),
    Milestone(2023, "Selective SSM (Mamba)", "Gu & Dao (2023)", "emerging", "emerging", 10),
)

EQUATIONS = (
    ("MLP (fixed input)", r"y = \sigma(Wx + b)", "Fixed input size; learned nonlinear maps."),
    (
        "Vanilla RNN",
        r"h_t = \tanh(W_{hh}h_{t-1} + W_{xh}x_t + b)",
        "Sequential state, any length; vanishing gradients.",
    ),
    ("LSTM", r"C_t = f_t \odot C_{t-1} + i_t \odot \tilde{C}_t", "Gated, additive memory; still sequential."),
    ("Attention", r"c_t = \sum_{i=1}^{T} \alpha_{t,i} h_i^{enc}", "Direct access to every encoder state."),
    (
        "Self-attention",
        r"\mathrm{Attention}(Q, K, V) = \mathrm{softmax}\left(\frac{QK^T}{\sqrt{d_k}}\right)V",
        "All-to-all in parallel; quadratic in length.",
    ),
)

# The seed's complexity table, with where the app measures each row.
COMPLEXITY = (
    ("MLP", "O(n × d²)", "O(d²)", "Full", "complexity"),
    ("RNN", "O(n × d²)", "O(d)", "None (sequential)", "complexity"),
    ("LSTM", "O(n × d²)", "O(d)", "None (sequential)", "complexity"),
    ("Attention", "O(n² × d)", "O(n²)", "Full", "complexity"),
)
