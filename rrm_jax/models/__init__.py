"""Models, one file per paper, each a `Model` of pure functions (see `base.py`)."""

from __future__ import annotations

from rrm_jax.models import gram, hrm, ldt, ptrm, sotaku, stochastic, trm
from rrm_jax.models.base import Model, Outputs, count_params

_BUILDERS = {
    "trm": trm.build,
    "hrm": hrm.build,
    "gram": gram.build,
    "sotaku": sotaku.build,
    "ldt": ldt.build,
}
NAMES: tuple[str, ...] = tuple(_BUILDERS)


def build(config) -> Model:
    """Builds `config.model.name` from an experiment config (blocks `model`, `recursion`), with
    PTRM's test-time noise (`models/ptrm.py`) when `ptrm.sigma` > 0, and GRAM's stochastic
    baselines (`models/stochastic.py`) when `model.init_noise` or `model.decoder="sample"`."""
    name = config.model.name
    if name not in _BUILDERS:
        raise ValueError(f"unknown model {name!r}; expected one of {NAMES}")
    model = _BUILDERS[name](config)
    if "ptrm" in config and config.ptrm.sigma > 0:
        model = ptrm.wrap(model, config.ptrm)
    if config.model.get("init_noise", False):
        model = stochastic.random_init(model)
    if config.model.get("decoder", "argmax") == "sample":
        model = stochastic.sampled_decoder(model, config.loss.type)
    return model


__all__ = ["Model", "Outputs", "build", "count_params", "NAMES"]
