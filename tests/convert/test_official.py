"""The converter's torch-free parts: official configs, shape inference, the params file, the CLI.

The state dicts are those of the parity fixtures (tests/fixtures/{hrm,trm}_parity); tests skip
when a fixture is absent.
"""

from __future__ import annotations

import functools
import json
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rrm_jax import models
from rrm_jax.config import base_config
from rrm_jax.convert import (
    complete_config,
    config_from_official,
    convert_checkpoint_file,
    convert_state_dict,
    from_official,
    load_metadata,
    load_params,
    official_model_name,
    read_official_state_dict,
    save_params,
)

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"


@functools.cache
def _fixture(name: str):
    path = (
        FIXTURES
        / {
            "hrm": "hrm_parity/hrm.npz",
            "trm_att": "trm_parity/trm_att.npz",
            "trm_mlp": "trm_parity/trm_mlp.npz",
        }[name]
    )
    if not path.exists():
        pytest.skip(f"fixture {path.name} is missing")
    with np.load(path, allow_pickle=False) as f:
        official = json.loads(str(f["config_json"]))
        sd = {k[len("sd/") :]: f[k] for k in f.files if k.startswith("sd/")}
    return official, sd


def _without_data_dims(official: dict) -> dict:
    """The official `arch` block alone: what all_config.yaml holds for the model."""
    return {
        k: v
        for k, v in official.items()
        if k not in ("vocab_size", "seq_len", "num_puzzle_identifiers", "batch_size")
    }


# --- official configs ------------------------------------------------------------------------


def test_official_model_names_are_recognised():
    hrm_official, _ = _fixture("hrm")
    trm_official, _ = _fixture("trm_att")
    assert official_model_name(hrm_official) == "hrm"
    assert official_model_name(trm_official) == "trm"
    # The `name` entry of all_config.yaml wins over the fields.
    assert (
        official_model_name(
            {**trm_official, "name": "hrm.hrm_act_v1@HierarchicalReasoningModel_ACTV1"}
        )
        == "hrm"
    )
    assert (
        official_model_name(
            {**hrm_official, "name": "recursive_reasoning.trm@TinyRecursiveReasoningModel_ACTV1"}
        )
        == "trm"
    )
    with pytest.raises(ValueError, match="neither HRM nor TRM"):
        official_model_name({"name": "other@Transformer"})


def test_hrm_config_from_official():
    official, _ = _fixture("hrm")
    config = config_from_official(official)
    m, r, a = config.model, config.recursion, config.act
    assert (m.name, m.num_layers, m.h_layers, m.mixer, m.puzzle_emb_len) == (
        "hrm",
        2,
        2,
        "attention",
        0,
    )
    assert (m.hidden_size, m.num_heads, m.puzzle_emb_ndim, m.dtype) == (16, 2, 24, "float32")
    assert (m.vocab_size, m.seq_len, m.num_puzzle_identifiers) == (7, 16, 5)
    assert (r.cycles, r.latent_steps, r.gradient) == (2, 2, "one_step")
    assert (a.max_steps, a.exploration_prob, a.halt_rule) == (4, 0.0, "q_halt_vs_continue")


def test_hrm_v1_yaml_defaults():
    # The official config/arch/hrm_v1.yaml (puzzle_emb_ndim = hidden_size, no forward_dtype).
    arch = dict(
        name="hrm.hrm_act_v1@HierarchicalReasoningModel_ACTV1",
        halt_exploration_prob=0.1,
        halt_max_steps=16,
        H_cycles=2,
        L_cycles=2,
        H_layers=4,
        L_layers=4,
        hidden_size=512,
        num_heads=8,
        expansion=4,
        puzzle_emb_ndim=512,
        pos_encodings="rope",
        loss={"name": "losses@ACTLossHead"},
    )
    config = config_from_official(arch)
    m = config.model
    assert (m.name, m.dtype, m.vocab_size, m.seq_len) == ("hrm", "bfloat16", 0, 0)
    assert models.build(config).prefix_len == 1
    # 27,275,266 in the official Sudoku log (vocab 11, seq_len 81, one puzzle id).
    config.model.update(dict(vocab_size=11, seq_len=81, num_puzzle_identifiers=1))
    shapes = jax.eval_shape(models.build(config).init, jax.random.PRNGKey(0), None)
    assert models.count_params(shapes["dense"]) == 27_275_266  # the puzzle table is a buffer


def test_trm_config_from_official_resets_hrm_fields():
    official, _ = _fixture("trm_att")
    hrm_config = config_from_official(_fixture("hrm")[0])
    config = config_from_official(official, hrm_config)
    assert (config.model.name, config.model.h_layers, config.model.puzzle_emb_len) == ("trm", 0, 2)
    assert (config.recursion.gradient, config.act.halt_rule) == ("last_recursion", "q_halt")


def test_official_hrm_without_layers_is_rejected():
    official, _ = _fixture("hrm")
    with pytest.raises(ValueError, match="H_layers >= 1"):
        config_from_official({**official, "H_layers": 0}, model="hrm")


# --- shape inference -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["hrm", "trm_att"])
def test_vocab_and_puzzle_ids_come_from_the_checkpoint(name):
    official, sd = _fixture(name)
    config = config_from_official(_without_data_dims(official))
    assert (config.model.vocab_size, config.model.num_puzzle_identifiers) == (0, 0)
    with pytest.raises(ValueError, match=r"--config\.model\.seq_len="):
        complete_config(sd, config)  # attention + RoPE: the weights do not hold seq_len
    config.model.seq_len = 16
    params, full = convert_state_dict(sd, config)
    assert (full.model.vocab_size, full.model.num_puzzle_identifiers) == (7, 5)
    assert config.model.vocab_size == 0  # the input config is left alone
    jax.tree.map(
        np.testing.assert_array_equal, params, from_official(sd, config_from_official(official))
    )


def test_seq_len_comes_from_the_checkpoint_where_the_weights_hold_it():
    official, sd = _fixture("trm_mlp")  # the token mixer is [S, I_t], S = seq_len + prefix
    _, full = convert_state_dict(sd, config_from_official(_without_data_dims(official)))
    assert (full.model.seq_len, full.model.vocab_size) == (16, 7)

    official, sd = _fixture("hrm")  # learned positions: [seq_len + prefix, D]
    sd = dict(sd, **{"inner.embed_pos.embedding_weight": np.zeros((18, 16), np.float32)})
    config = config_from_official(_without_data_dims(official))
    config.model.pos_encodings = "learned"
    params, full = convert_state_dict(sd, config)
    assert full.model.seq_len == 16
    assert params["dense"]["embed"]["embed_pos"].shape == (18, 16)


def test_set_dims_that_disagree_with_the_checkpoint_are_reported():
    official, sd = _fixture("hrm")
    config = config_from_official({**official, "vocab_size": 11})
    with pytest.raises(ValueError, match=r"embed_tokens\.embedding_weight' has shape \(7, 16\)"):
        convert_state_dict(sd, config)


# --- the params file -------------------------------------------------------------------------


def test_params_file_round_trip(tmp_path):
    official, sd = _fixture("hrm")
    config = config_from_official({**official, "forward_dtype": "bfloat16"})
    params = from_official(sd, config)
    assert params["const"]["z_H_init"].dtype == jnp.bfloat16
    path = tmp_path / "params.bin"  # the name is kept as given
    save_params(path, params, metadata={"config": json.loads(config.to_json())})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.bin"]
    with np.load(path) as f:  # a flat archive any numpy reads
        assert "dense/net_L/layers_0/self_attn/qkv_proj/kernel" in f.files
        assert "dense/net_H/layers_1/mlp/down_proj/kernel" in f.files
        assert f["const/z_H_init"].dtype == np.float32
    back = load_params(path)
    assert jax.tree.structure(back) == jax.tree.structure(params)
    for a, b in zip(jax.tree.leaves(back), jax.tree.leaves(params), strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(np.asarray(a, np.float32), np.asarray(b, np.float32))
    assert load_metadata(path)["config"]["model"]["name"] == "hrm"
    # The tree, shapes and dtypes model.init makes.
    shapes = jax.eval_shape(models.build(config).init, jax.random.PRNGKey(0), None)
    assert jax.tree.structure(back) == jax.tree.structure(shapes)
    for a, want in zip(jax.tree.leaves(back), jax.tree.leaves(shapes), strict=True):
        assert (a.shape, a.dtype) == (want.shape, want.dtype)


def test_params_that_cannot_be_stored_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="cannot be stored"):
        save_params(tmp_path / "p.npz", {"a/b": np.zeros(2)})
    with pytest.raises(ValueError, match="cannot be stored"):
        save_params(tmp_path / "p.npz", {"__meta__": np.zeros(2)})
    assert not list(tmp_path.iterdir())


# --- reading checkpoints and the command line ------------------------------------------------


def test_an_npz_state_dict_is_read_without_torch(monkeypatch, tmp_path):
    official, sd = _fixture("hrm")
    monkeypatch.setitem(sys.modules, "torch", None)
    path = tmp_path / "state.npz"
    np.savez(path, **{"_orig_mod.model." + k: v for k, v in sd.items()})
    read = read_official_state_dict(path)
    assert set(read) == {"_orig_mod.model." + k for k in sd}
    summary = convert_checkpoint_file(path, config_from_official(official), tmp_path / "out.npz")
    assert summary["model"] == "hrm" and summary["dense_params"] > 0
    jax.tree.map(
        np.testing.assert_array_equal,
        load_params(tmp_path / "out.npz"),
        from_official(sd, config_from_official(official)),
    )


def _experiment_file(tmp_path, official: dict) -> pathlib.Path:
    # An experiment file as experiments/*.py are: get_config(row) -> a config with the data
    # dimensions left at 0.
    path = tmp_path / "exp.py"
    path.write_text(
        "import json\n"
        "from rrm_jax.convert import config_from_official\n\n\n"
        "def get_config(arg=None):\n"
        f"    return config_from_official(json.loads({json.dumps(json.dumps(official))}))\n"
    )
    return path


def _cli(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "rrm_jax.convert", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_command_line(tmp_path):
    official, sd = _fixture("hrm")
    exp = _experiment_file(tmp_path, _without_data_dims(official))
    ckpt = tmp_path / "step_100.npz"
    np.savez(ckpt, **{"_orig_mod.model." + k: v for k, v in sd.items()})
    out = tmp_path / "hrm.npz"

    r = _cli(f"--config={exp}:row", f"--checkpoint={ckpt}", f"--out={out}", cwd=ROOT)
    assert r.returncode != 0 and not out.exists()
    assert "--config.model.seq_len=" in r.stderr, r.stderr

    r = _cli(
        f"--config={exp}:row",
        f"--checkpoint={ckpt}",
        f"--out={out}",
        "--config.model.seq_len=16",
        cwd=ROOT,
    )
    assert r.returncode == 0, r.stderr
    assert "vocab_size=7, seq_len=16, num_puzzle_identifiers=5" in r.stdout
    full = config_from_official(official)
    jax.tree.map(np.testing.assert_array_equal, load_params(out), from_official(sd, full))
    model = load_metadata(out)["config"]["model"]
    assert (model["name"], model["vocab_size"], model["num_puzzle_identifiers"]) == ("hrm", 7, 5)

    # A torch.save file needs torch, which this environment may not have.
    pt = tmp_path / "step_100"
    pt.write_bytes(b"\x80\x02not numpy")
    r = _cli(
        f"--config={exp}",
        f"--checkpoint={pt}",
        f"--out={out}",
        "--config.model.seq_len=16",
        cwd=ROOT,
    )
    try:
        import torch  # noqa: F401
    except ImportError:
        assert r.returncode != 0 and "needs PyTorch" in r.stderr, r.stderr
    else:
        assert r.returncode != 0


def test_command_line_rejects_a_mismatched_architecture(tmp_path):
    official, sd = _fixture("hrm")
    exp = _experiment_file(tmp_path, {**official, "H_layers": 3})
    ckpt = tmp_path / "sd.npz"
    np.savez(ckpt, **sd)
    r = _cli(f"--config={exp}", f"--checkpoint={ckpt}", f"--out={tmp_path / 'o.npz'}", cwd=ROOT)
    assert r.returncode != 0
    assert "missing key 'inner.H_level.layers.2." in r.stderr, r.stderr


def test_base_config_is_not_an_official_model():
    config = base_config()
    config.model.name = "gram"
    with pytest.raises(ValueError, match="no official checkpoint format"):
        from_official({}, config)
