"""GRAM: Generative Recursive reAsoning Models (Baek, Jo, Kim, Ren, Bengio, Ahn, arXiv 2605.19376).

What is new in this paper, against HRM/TRM: the high-level transition is stochastic, and the model
is trained as a latent-variable model (amortised variational inference). Per transition, with
z = (h, l) and e_x the embedded input,

    l <- f_L(l + (h + e_x))            K times (deterministic; recursion.latent_steps)
    u  = f_H(h + l)                    the deterministic proposal
    h  = u + eps,  eps ~ N(mu(u), diag sigma(u)^2)      the prior ("learned stochastic guidance")

T transitions per supervision step (recursion.cycles), noise on h only. In training the noise is
drawn from the posterior q(eps | u, y), which shares every transition weight with the prior and
differs only in its noise head, which also sees the target y. The loss of a supervision step is
the decoded answer's cross-entropy plus beta x the KL at the LAST transition, balanced as in
DreamerV2 (alpha KL(sg(q) || p) + (1 - alpha) KL(q || sg(p)), alpha = 0.8), with gradient through
the last transition only (`recursion.gradient="last_recursion"`) and the state detached between
supervision steps. z_0 is drawn once from N(0, I) and stored with the params (`const`).

Heads on h: the decoder (the shared LM head on the content tokens), the halting head (Q head on
h's first token, halt when q_halt > 0, the released code's variant) and the latent process reward
model (LPRM), a value head v(h[:, 0]) regressed on the accuracy of the decoded answer. Both are
fitted on a separate PRIOR rollout that the training carry keeps beside the posterior one (the
posterior sees y, so its accuracy is inflated) and on detached states (no gradient into the core).

What the paper leaves open, and the choice here (config block `gram`, each a switch):
- noise head: a per-token SwiGLU MLP (width D * expansion, as the blocks) then a zero-initialised
  linear to (mu, raw std) (`noise_head="swiglu"`; "linear" drops the MLP): at init the prior and
  posterior agree (KL 0) with std `init_std`;
- sigma: softplus(raw + softplus^-1(init_std - min_std)) + min_std (`std_param="softplus"`;
  "exp": init_std * exp(clip(raw, -5, 5)));
- the posterior's view of y: a learned embedding of the label tokens added to u
  (`posterior_input="embed"`; ignored label positions and the prefix see nothing);
- layers per module: `model.num_layers` (f_L) and `model.h_layers` (f_H), 2 each by default;
- the LPRM target: token accuracy of the prior rollout's answer (`lprm_target="token"`, or
  "exact"), regressed at every supervision step on the detached state;
- KL reduction: summed over the hidden axis and the positions (`kl_reduce="sum"`), against the
  per-token-mean cross-entropy of TRM's loss. Measured on the `tiny` N-Queens row: averaged over
  positions instead ("token_mean", 64x weaker) the posterior leaks the answer through its noise
  (training accuracy 99-100% under the posterior, 0-8% under the prior; 1.2% rule-checked test
  accuracy after 1500 steps), while "sum" keeps the two equal (45% / 44% at step 500) and
  reaches 64% test accuracy by step 500;
- decoder: the linear LM head (one community reading of the paper's Table 4; the text says a
  SwiGLU head).
Switches for the paper's Table 3 ablations (our reading of rows the paper names in a word):
- `hierarchy=False` ("without HR"): one state h, no low-level net; u = f_H(h + e_x) per
  transition (`recursion.latent_steps` is ignored);
- `residual=False` ("w/ direct prediction"): the noise head predicts the next state itself,
  h ~ N(mu(u), sigma(u)^2), instead of a residual on the proposal (h = u + eps); its output
  layer then starts from the default (not zero) init, so h is not 0 at init;
- `kl_transitions="all"`: the KL of every transition of the step (the full ELBO's sum), for
  rows trained without deep supervision in one long step; "last" is the paper's surrogate.
Keys: one per row from `rng` (or a fixed key when `rng` is None, so evaluation without a key is
a fixed draw), folded with the row's transition count, so every transition gets fresh noise.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from rrm_jax import losses, recursion
from rrm_jax.layers import SwiGLU, dense
from rrm_jax.models.base import Model, Outputs
from rrm_jax.models.core import Parts
from rrm_jax.models.ptrm import row_keys

NOISE_HEADS = ("swiglu", "linear")
STD_PARAMS = ("softplus", "exp")
LPRM_TARGETS = ("token", "exact")
KL_REDUCES = ("token_mean", "sum")
KL_TRANSITIONS = ("last", "all")
HEAD_ROLLOUTS = ("prior", "posterior")
# The paper's Table 3(b) ablations of the noise: "learned" N(mu, sigma^2) (GRAM), "none" (no
# noise, no KL), "std_only" N(0, sigma^2) (the prior's mean fixed at 0), "mean_only" N(mu, 0)
# (no spread: eps is the mean; the KL, infinite for point masses, is replaced by the squared
# distance of the means, 0.5 ||mu_q - mu_p||^2, the KL of unit-variance Gaussians).
GUIDANCE = ("learned", "none", "std_only", "mean_only")


class GaussianHead(nn.Module):
    """Per-token diagonal Gaussian (mu, std) [B, S, D] fp32 from a state [B, S, D]."""

    hidden_size: int
    expansion: float
    kind: str = "swiglu"
    std_param: str = "softplus"
    init_std: float = 0.1
    min_std: float = 1e-3
    dtype: jnp.dtype = jnp.float32
    zero_init: bool = True  # False: the mean starts from the default init (direct prediction)

    @nn.compact
    def __call__(self, u_BSD: jax.Array) -> tuple[jax.Array, jax.Array]:
        h = u_BSD
        if self.kind == "swiglu":
            h = SwiGLU(self.hidden_size, self.expansion, self.dtype, name="mlp")(h)
        out = dense(
            2 * self.hidden_size,
            self.dtype,
            "out",
            use_bias=True,
            kernel_init=nn.initializers.zeros if self.zero_init else nn.linear.default_kernel_init,
        )(h).astype(jnp.float32)
        mu, raw = jnp.split(out, 2, axis=-1)
        if self.std_param == "softplus":
            shift = float(np.log(np.expm1(self.init_std - self.min_std)))
            std = jax.nn.softplus(raw + shift) + self.min_std
        else:
            std = self.init_std * jnp.exp(jnp.clip(raw, -5.0, 5.0))
        return mu, std


def gaussian_kl(mu_q, std_q, mu_p, std_p) -> jax.Array:
    """Elementwise KL(N(mu_q, std_q^2) || N(mu_p, std_p^2))."""
    var_q, var_p = jnp.square(std_q), jnp.square(std_p)
    return jnp.log(std_p / std_q) + (var_q + jnp.square(mu_q - mu_p)) / (2.0 * var_p) - 0.5


def balanced_kl(mu_q, std_q, mu_p, std_p, alpha: float) -> jax.Array:
    """DreamerV2's KL balancing: alpha KL(sg(q) || p) + (1 - alpha) KL(q || sg(p)).

    Its value is the KL; its gradient reaches the prior with weight alpha and the posterior with
    weight 1 - alpha."""
    sg = jax.lax.stop_gradient
    to_prior = gaussian_kl(sg(mu_q), sg(std_q), mu_p, std_p)
    to_post = gaussian_kl(mu_q, std_q, sg(mu_p), sg(std_p))
    return alpha * to_prior + (1.0 - alpha) * to_post


def build(config) -> Model:
    """Builds GRAM from an experiment config (blocks `model`, `recursion`, `gram`)."""
    m, r, g = config.model, config.recursion, config.gram
    for name, value, allowed in (
        ("noise_head", g.noise_head, NOISE_HEADS),
        ("std_param", g.std_param, STD_PARAMS),
        ("lprm_target", g.lprm_target, LPRM_TARGETS),
        ("kl_reduce", g.kl_reduce, KL_REDUCES),
        ("head_rollout", g.head_rollout, HEAD_ROLLOUTS),
        ("guidance", g.guidance, GUIDANCE),
        ("kl_transitions", g.kl_transitions, KL_TRANSITIONS),
    ):
        if value not in allowed:
            raise ValueError(f"gram.{name}={value!r}; expected one of {allowed}")
    hierarchy = bool(g.hierarchy)
    # Without hierarchy one net ("net") is the transition; with it, net_L and net_H.
    parts = Parts(config, separate=hierarchy, answer_layers=m.h_layers or m.num_layers)
    dtype, seq, prefix = parts.dtype, parts.seq, parts.prefix

    def head(name: str) -> GaussianHead:
        return GaussianHead(
            m.hidden_size,
            m.expansion,
            g.noise_head,
            g.std_param,
            g.init_std,
            g.min_std,
            dtype,
            zero_init=bool(g.residual),
            name=name,
        )

    prior_head, posterior_head = head("prior"), head("posterior")
    value_head = dense(1, jnp.float32, "value", use_bias=True, kernel_init=nn.initializers.zeros)
    label_embed = nn.Embed(m.vocab_size, m.hidden_size, name="label_embed")

    def init(rng: jax.Array, batch: dict) -> dict:
        del batch
        names = ("embed", "heads", *parts.nets, "prior", "posterior", "value", "label")
        keys = dict(zip(names + ("h0", "l0"), jax.random.split(rng, len(names) + 2), strict=True))
        dense_params = parts.init_dense(keys)
        h = parts.hidden_like()
        dense_params["prior"] = prior_head.init(keys["prior"], h)["params"]
        dense_params["posterior"] = posterior_head.init(keys["posterior"], h)["params"]
        dense_params["value"] = value_head.init(keys["value"], h[:, 0])["params"]
        dense_params["label_embed"] = label_embed.init(
            keys["label"], jnp.zeros((1, m.seq_len), jnp.int32)
        )["params"]
        return {
            "dense": dense_params,
            "puzzle_emb": parts.puzzle_table(),
            "const": {  # z_0, drawn once from N(0, I)
                "h_init": jax.random.normal(keys["h0"], (m.hidden_size,)).astype(dtype),
                "l_init": jax.random.normal(keys["l0"], (m.hidden_size,)).astype(dtype),
            },
        }

    def initial_carry(batch: dict) -> dict:
        b = batch["inputs"].shape[0]
        z = jnp.zeros((b, seq, m.hidden_size), dtype)
        n = jnp.zeros((b,), jnp.int32)
        return {"h": z, "l": z, "ph": z, "pl": z, "n": n}

    def reset_carry(params: dict, carry: dict, reset_B: jax.Array) -> dict:
        mask = reset_B[:, None, None]
        c = params["const"]
        out = {k: jnp.where(mask, c[f"{k[-1]}_init"], carry[k]) for k in ("h", "l", "ph", "pl")}
        out["n"] = jnp.where(reset_B, 0, carry["n"])
        return out

    def draw(keys_B: jax.Array, n_B: jax.Array, stream: int) -> jax.Array:
        """Fresh N(0, I) [B, S, D] per row, transition count and stream (0: main, 1: prior)."""

        def one(k, n):
            k = jax.random.fold_in(jax.random.fold_in(k, n), stream)
            return jax.random.normal(k, (seq, m.hidden_size), jnp.float32)

        return jax.vmap(one)(keys_B, n_B)

    def kl_per_row(kl_BSD: jax.Array) -> jax.Array:
        per_pos = kl_BSD.sum(-1)
        return per_pos.mean(-1) if g.kl_reduce == "token_mean" else per_pos.sum(-1)

    def apply(params: dict, carry: dict, batch: dict, *, rng=None, training: bool = False):
        d = params["dense"]
        b = batch["inputs"].shape[0]
        keys_B = (
            row_keys(rng, b)
            if rng is not None
            else jax.vmap(lambda i: jax.random.fold_in(jax.random.PRNGKey(0), i))(jnp.arange(b))
        )
        x = parts.input(params, batch)
        cs = parts.cos_sin()
        net_params = {k: d[k] for k in (*parts.nets, "prior", "posterior", "label_embed")}

        def latent_step(p, c, x_):
            return {**c, "l": parts.net(parts.f_latent, p, c["l"], c["h"] + x_, cs)}

        def propose(p, c):
            # u = f_H(h + l), or f(h + e_x) without the hierarchy (no low-level state)
            return parts.net(parts.f_answer, p, c["h"], c["l"] if hierarchy else x, cs)

        def next_state(u, eps):
            base = u.astype(jnp.float32) if g.residual else 0.0
            return (base + eps).astype(dtype)

        def prior_step(stream, temperature):
            def step(p, c):
                u = propose(p, c)
                mu, std = prior_noise(p, u)
                eps = mu + temperature * std * draw(keys_B, c["n"], stream)
                return {**c, "h": next_state(u, eps), "n": c["n"] + 1}

            return step

        def prior_noise(p, u):
            mu, std = prior_head.apply({"params": p["prior"]}, u)
            if g.guidance in ("none", "std_only"):
                mu = jnp.zeros_like(mu)
            if g.guidance in ("none", "mean_only"):
                std = jnp.zeros_like(std)
            return mu, std

        def posterior_step(p, c):
            u = propose(p, c)
            mu_p, std_p = prior_noise(p, u)
            labels = batch["labels"]
            seen = labels != losses.IGNORE_LABEL
            y = label_embed.apply({"params": p["label_embed"]}, jnp.where(seen, labels, 0))
            y = (y * seen[..., None]).astype(dtype)
            y = jnp.pad(y, ((0, 0), (prefix, 0), (0, 0)))
            mu_q, std_q = posterior_head.apply({"params": p["posterior"]}, u + y)
            if g.guidance == "none":
                mu_q, std_q = mu_p, std_p
            if g.guidance == "mean_only":
                std_q = std_p
            eps = mu_q + std_q * draw(keys_B, c["n"], 0)
            if g.guidance == "learned" or g.guidance == "std_only":
                kl = kl_per_row(balanced_kl(mu_q, std_q, mu_p, std_p, g.kl_balance))
            elif g.guidance == "mean_only":
                sg = jax.lax.stop_gradient
                sq = g.kl_balance * jnp.square(sg(mu_q) - mu_p) + (1 - g.kl_balance) * jnp.square(
                    mu_q - sg(mu_p)
                )
                kl = kl_per_row(0.5 * sq)
            else:
                kl = jnp.zeros(u.shape[:1], jnp.float32)
            if g.kl_transitions == "all":
                kl = c["kl"] + kl
            return {**c, "h": next_state(u, eps), "n": c["n"] + 1, "kl": kl}

        def run(step, state, rule, p=net_params, x_=x):
            return recursion.recurse(
                latent_step,
                step,
                p,
                state,
                x_,
                cycles=r.cycles,
                latent_steps=r.latent_steps if hierarchy else 0,
                rule=rule,
                remat=r.remat,
                remat_policy=r.remat_policy,
                **recursion.options(r),
            )

        main = {"h": carry["h"], "l": carry["l"], "n": carry["n"]}
        if not training:
            main = run(prior_step(0, g.temperature), main, r.gradient)
            logits, q_halt, q_continue = parts.output(d, main["h"])
            value = value_head.apply({"params": d["value"]}, main["h"][:, 0])[:, 0]
            new = {**carry, "h": main["h"], "l": main["l"], "n": main["n"]}
            return jax.lax.stop_gradient(new), Outputs(logits, q_halt, q_continue, value)

        post = run(posterior_step, {**main, "kl": jnp.zeros((b,), jnp.float32)}, r.gradient)
        logits, _, _ = parts.output(d, post["h"])
        if g.head_rollout == "prior":
            side = {"h": carry["ph"], "l": carry["pl"], "n": carry["n"]}
            side = recursion.no_grad(
                lambda p, s, x_: run(prior_step(1, 1.0), s, "full", p, x_), net_params, side, x
            )
        else:
            side = post
        h_side = jax.lax.stop_gradient(side["h"])
        side_logits, q_halt, q_continue = parts.output(d, h_side)
        value = value_head.apply({"params": d["value"]}, h_side[:, 0])[:, 0]
        row = losses.correctness(jax.lax.stop_gradient(side_logits), batch["labels"])
        exact = row["exact"].astype(jnp.float32)
        target = row["token_accuracy"] if g.lprm_target == "token" else exact
        extra = {
            "kl_loss": g.kl_beta * post["kl"],
            "halt_loss": g.halt_weight * losses.binary_cross_entropy(q_halt, exact),
            "value_loss": g.value_weight * jnp.square(value - target),
        }
        metrics = {"kl": post["kl"], "prior_exact": exact, "prior_token": row["token_accuracy"]}
        new = {
            "h": post["h"],
            "l": post["l"],
            "ph": side["h"] if g.head_rollout == "prior" else carry["ph"],
            "pl": side["l"] if g.head_rollout == "prior" else carry["pl"],
            "n": post["n"],
        }
        out = Outputs(logits, q_halt, q_continue, value, extra, jax.lax.stop_gradient(metrics))
        return jax.lax.stop_gradient(new), out

    return Model(
        init, initial_carry, reset_carry, apply, m.seq_len, prefix, "h", "l", stochastic=True
    )
