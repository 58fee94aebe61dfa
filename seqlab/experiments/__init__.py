"""Experiments that make the claims of the language-model papers visible, on the one training engine.

  * ``pretrain`` — masked-token pre-training, then fine-tuning on few labels, against the same model
    trained from scratch with the same labelled budget (Devlin et al. 2018).
  * ``scaling``  — held-out loss of several GPT sizes under one training budget, with a power law
    L(N) = a·N^(−α) + c fitted on log–log axes (Kaplan et al. 2020).
  * ``fewshot``  — accuracy on a mapping seen only in context, against the number of in-context
    examples k, next to the ideal in-context learner and chance (Brown et al. 2020).

Each module has a pydantic config (bad values raise ``ConfigError`` naming the field), one ``run``
function returning a typed result (a dataclass whose ``to_json()`` is the CLI's ``--json`` object),
and a CLI subcommand of the same name.
"""
