"""experiments/gram.py: rows and ablations build with the paper's settings; GRAM trains on the CSP
builders and reports rule-checked accuracy and coverage of its samples."""

from __future__ import annotations

import numpy as np
import pytest

from rrm_jax.config import validate
from rrm_jax.train import loop
from tests.test_experiments import load_experiment

GRAM = load_experiment("gram.py")
BETA = {
    "sudoku_extreme": 0.1,
    "arc_agi_1": 0.04,
    "arc_agi_2": 0.1,
    "n_queens_8": 0.07,
    "n_queens_10": 0.045,
    "graph_coloring_8": 0.5,
    "graph_coloring_10": 0.45,
}


@pytest.mark.parametrize("row", sorted(GRAM.ROWS))
def test_row_is_valid_with_the_papers_settings(row):
    c = GRAM.get_config(row)
    validate(c)
    assert c.paper.arxiv == GRAM.ARXIV and c.paper.row
    if row == "tiny_trm":
        assert c.model.name == "trm"
        return
    assert c.model.name == "gram" and c.loss.q_weight == 0
    if row in BETA:
        assert c.gram.kl_beta == BETA[row] and c.gram.kl_balance == 0.8
        assert (c.model.hidden_size, c.recursion.cycles, c.act.max_steps) == (512, 3, 16)
        assert c.recursion.latent_steps == (6 if row == "sudoku_extreme" else 4)
        o = c.optim
        assert (o.optimizer, o.grad_clip, o.lr, o.weight_decay, o.ema_rate) == (
            "adamw",
            1.0,
            1e-4,
            1.0,
            0.9999,
        )
        assert c.train.global_batch_size == 768 and c.paper.reported > 0
    if row.startswith(("n_queens", "graph_coloring", "sudoku")):
        assert c.sampling.rollouts == 20


def test_ablations_switch_the_noise():
    assert GRAM.get_config("sudoku_extreme,ablation=no_guidance").gram.guidance == "none"
    c = GRAM.get_config("n_queens_8,ablation=stochastic_only")
    assert c.gram.guidance == "std_only" and c.paper.reported == 50.27
    assert c.sampling.rollouts == 5
    assert GRAM.get_config("sudoku_extreme,ablation=guide_only").gram.guidance == "mean_only"
    for name, (sudoku, queens, _) in GRAM.ABLATIONS.items():
        for row, reported in (("sudoku_extreme", sudoku), ("n_queens_8", queens)):
            c = GRAM.get_config(f"{row},ablation={name}")
            validate(c)
            assert c.paper.reported == reported and c.sampling.rollouts == 5, (row, name)
    with pytest.raises(ValueError, match="ablations"):
        GRAM.get_config("arc_agi_1,ablation=no_guidance")
    with pytest.raises(ValueError, match="unknown ablation"):
        GRAM.get_config("n_queens_8,ablation=bigger")


def test_table_3a_rows_remove_hierarchy_and_deep_supervision():
    base = GRAM.get_config("sudoku_extreme")
    looped = GRAM.get_config("sudoku_extreme,ablation=looped_tf")
    assert not looped.gram.hierarchy and looped.gram.guidance == "none"
    # no deep supervision: one step of all T x N_sup transitions, BPTT, every transition's KL
    assert looped.act.max_steps == 1 and looped.recursion.cycles == 3 * 16
    assert looped.recursion.gradient == "full" and looped.recursion.remat
    sg = GRAM.get_config("n_queens_8,ablation=sg")
    assert sg.gram.guidance == "learned" and sg.gram.kl_transitions == "all"
    ds_sg = GRAM.get_config("sudoku_extreme,ablation=ds_sg")
    assert not ds_sg.gram.hierarchy and ds_sg.act.max_steps == base.act.max_steps == 16
    assert ds_sg.recursion.gradient == base.recursion.gradient == "last_recursion"
    assert not GRAM.get_config("sudoku_extreme,ablation=direct_prediction").gram.residual
    for name, field, value in (
        ("trm_stochastic_decoder", "decoder", "sample"),
        ("trm_random_init", "init_noise", True),
    ):
        c = GRAM.get_config(f"n_queens_8,ablation={name}")
        assert c.model.name == "trm" and c.model[field] == value and c.loss.q_weight == 0.5
        assert c.sampling.selection == "mode" and c.data.name == "n_queens"


@pytest.mark.parametrize(
    "name,config,guidance",
    [("n_queens", "5x5", "learned"), ("graph_coloring", "5_nodes", "mean_only")],
)
def test_gram_trains_on_a_csp_and_reports_coverage_of_its_samples(name, config, guidance, tmp_path):
    c = GRAM.get_config("tiny")
    c.data.update(dict(name=name, config=config, data_dir=str(tmp_path / "tfds")))
    c.model.update(dict(hidden_size=16, num_heads=2, num_layers=1, h_layers=1))
    c.recursion.update(dict(cycles=2, latent_steps=1))
    c.act.max_steps = 2
    c.gram.guidance = guidance
    c.train.update(dict(steps=2, eval_every=2, global_batch_size=8, progress=False))
    c.eval.update(dict(batch_size=8, max_examples=16, plot=False))
    c.sampling.update(dict(rollouts=4, rollout_chunk=2))
    summary = loop.run(c, str(tmp_path / "run"))
    assert summary["step"] == 2
    for key in ("csp/accuracy", "csp/coverage", "gram/csp/accuracy", "gram/csp/coverage"):
        assert 0 <= summary[key] <= 1, key
    assert 0 <= summary["gram/value"] <= summary["gram/pass"] <= 1
    if name == "graph_coloring":
        assert np.isfinite(summary["gram/csp/conflicts_total"])


@pytest.mark.parametrize("ablation", ["sg", "trm_stochastic_decoder", "trm_random_init"])
def test_table_3_ablations_train_and_sample(ablation, tmp_path):
    c = GRAM.get_config("tiny")
    c.data.update(dict(config="5x5", data_dir=str(tmp_path / "tfds")))
    c.model.update(dict(hidden_size=16, num_heads=2, num_layers=1, h_layers=1))
    c.recursion.update(dict(cycles=2, latent_steps=1))
    c.act.max_steps = 2
    GRAM.ABLATIONS[ablation][2](c)
    c.train.update(dict(steps=2, eval_every=2, global_batch_size=8, progress=False))
    c.eval.update(dict(batch_size=8, max_examples=16, plot=False))
    c.sampling.update(dict(rollouts=4, rollout_chunk=2))
    validate(c)
    summary = loop.run(c, str(tmp_path / "run"))
    assert summary["step"] == 2
    pre = c.model.name
    for key in ("csp/accuracy", f"{pre}/csp/accuracy", f"{pre}/csp/coverage", f"{pre}/mode"):
        assert 0 <= summary[key] <= 1, key


def test_unconditional_generation_trains_and_scores_its_samples(tmp_path):
    c = GRAM.get_config("tiny_generation")
    assert c.data.task == "generate" and c.data.generate_boards == 120
    paper = GRAM.get_config("sudoku_generation")
    assert (paper.gram.kl_beta, paper.optim.ema_rate, paper.train.epochs) == (0.05, 0.999, 200)
    assert paper.data.generate_boards == 50_000 and paper.paper.reported == 99.05
    c.model.update(dict(hidden_size=16, num_heads=2, num_layers=1, h_layers=1))
    c.recursion.update(dict(cycles=2, latent_steps=1))
    c.act.max_steps = 2
    c.train.update(dict(steps=2, eval_every=2, global_batch_size=8, progress=False))
    c.eval.update(dict(batch_size=8, max_examples=16, plot=False))
    c.sampling.update(dict(rollouts=4, rollout_chunk=2, steps=2))
    summary = loop.run(c, str(tmp_path / "run"))
    assert 0 <= summary["generation/valid"] <= 1
    for key in ("valid", "unique", "novel"):
        assert 0 <= summary[f"gram/generation/{key}"] <= 1, key
    assert summary["gram/generation/distinct"] <= 16 * 4
