"""One GAN's state and training step, written once; distgan.engine vmaps K of them and scans many steps.

A state is a dict pytree for one replicate: G and D parameters, their Adam states, the EMA of G (when used),
its PRNG key, its step count, and its non-finite guard (`nonfinite`: 0 running, 1 D or 2 G went NaN/inf, at step
`nonfinite_step`; such a replicate keeps its last finite values and stops learning while the others go on).
Batched states carry a leading replicate axis K on every leaf.
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import optax

from . import fast, losses, warp
from .config import Config
from .kmeans import kmeans_best
from .nets import (
    acts,
    code_weights,
    d_input_size,
    d_inputs,
    group_rows,
    init_mlp,
    mlp,
    mlp_coded,
    stratified_codes,
)
from .targets import Target

# The step's random numbers come from Philox-4x32 (Salmon et al. 2011, "Parallel random numbers: as easy as 1, 2, 3"):
# on CPU JAX lowers its default threefry as a rolled while loop (about 25 small kernels per draw), Philox as one fused
# kernel. Its key is two uint32 words like threefry's, so states, checkpoints and the evaluator keep their layout.
PRNG = "philox4x32"
CALIBRATION_SEED = 20171717  # the noise of a data file's calibration draws (distgan.columns.decoder)
KMEANS_SAMPLE = 2048  # real draws whose clusters place G's codes at the start (model.code_init = 'data')


def _schedule(kind: str, lr: float, total: int, cooldown: int = 0):
    if kind == "linear":
        return optax.linear_schedule(lr, 0.0, total)
    if kind == "cosine":
        return optax.cosine_decay_schedule(lr, total)
    if kind == "wsd":  # constant, then linear to 0 over the last `cooldown` updates (warmup-stable-decay, no warm-up)
        cooldown = min(cooldown, total)
        return optax.join_schedules([optax.constant_schedule(lr), optax.linear_schedule(lr, 0.0, cooldown)],
                                    [total - cooldown])
    return lr


class GAN:
    """The five parts of the seed for one config: target R, noise I, G, D and the alternating update."""

    def __init__(self, cfg: Config, target: Target):
        self.cfg, self.target = cfg, target
        m, t = cfg.model, cfg.train
        self.dim = target.dim
        self.g_acts, self.d_acts = acts(m.g_act), acts(m.d_act)
        self.g_sizes = [m.noise_dim + m.codes, *[m.g_hidden] * len(self.g_acts), self.dim]  # codes: one-hot inputs
        # G's parameters: the MLP's layers, or with codes {"net": layers, "loc": (codes, dim), "log_scale":
        # (codes, dim)} and "logits" (codes,) for learned weights
        self.g_extras = m.codes > 0
        self.d_sizes = [d_input_size(m, t.batch_size, self.dim), *[m.d_hidden] * len(self.d_acts), 1]
        adam = partial(optax.adam, b1=t.beta1, b2=t.beta2, eps=1e-8)  # torch.optim.Adam's update and eps
        schedule = "constant" if t.auto_steps else t.schedule  # auto steps: the cooldown is in the state (lr_scale)
        self.opt_G = adam(_schedule(schedule, t.g_lr, t.steps * t.g_steps, t.cooldown * t.g_steps))
        if m.codes and t.code_lr_scale != 1:  # the codes' places, widths and weights: a faster learning rate
            faster = lambda G: {k: jax.tree.map(lambda _, k=k: k in ("loc", "log_scale", "logits"), v)  # noqa: E731
                                for k, v in G.items()}
            self.opt_G = optax.chain(self.opt_G, optax.masked(optax.scale(t.code_lr_scale), faster))
        self.opt_D = adam(_schedule(schedule, t.d_lr, t.steps * t.d_steps, t.cooldown * t.d_steps))
        # model.standardize: the nets work in the target's units (mean 0, std 1), so one learning rate and one
        # R1 weight fit targets of any location and scale; shift and scale are the target's exact moments
        # model.warp: G and D work on y, the target's values mapped (distgan.warp); None: on the values themselves
        self.warp = warp.of(target) if m.warp == "auto" else None
        self.shift, self.scale = 0.0, 1.0
        if m.standardize and target.name != "data":  # data files are standardised when they are read
            if self.warp is None:
                tm = target.moments()
                mean, std = tm["mean"], tm["std"]
            else:
                mean, std = self.warp.moments(target)
            ok = np.isfinite(mean) & np.isfinite(std) & (std > 0)  # Student-t, df <= 2: no std
            self.shift = jnp.asarray(np.where(ok, mean, 0.0).astype(np.float32))  # (dim,): a copy, no compile
            self.scale = jnp.asarray(np.where(ok, std, 1.0).astype(np.float32))  # (dim,)
        # what the GAN is made of: its config, the spec of a built-in target, and the speed tricks in use (identity
        # for a data file's target or a target made by hand)
        self._made_of = None if target.key is None else (repr(cfg), target.key, tuple(sorted(fast.PLAIN)))

    def __eq__(self, other) -> bool:
        """GANs made of equal configs on the same built-in target are equal: as the static argument of a compiled
        function (engine.run_chunk, engine.init_states), a program JAX traced and compiled for one serves the other
        from its in-memory caches, not traced again and read back from the compilation cache."""
        return self is other or (isinstance(other, GAN) and self._made_of is not None and self._made_of == other._made_of)

    def __hash__(self) -> int:
        return id(self) if self._made_of is None else hash(self._made_of)

    def working_set(self) -> int:
        """Rough bytes one replicate's step touches: G's and D's weights with their gradients, Adam moments and G's
        EMA, and the activations of G over a batch and of D over its real and fake inputs (forward and backward)."""
        layers = lambda sizes: zip(sizes[:-1], sizes[1:])  # noqa: E731
        weights = sum((a + 1) * b for sizes in (self.g_sizes, self.d_sizes) for a, b in layers(sizes))
        batch = self.cfg.train.batch_size
        d_rows = 2 * max(1, batch * self.dim // self.d_sizes[0])  # real and fake: 2 * batch rows per sample, the seed's 2
        acts = batch * sum(self.g_sizes[1:]) + d_rows * sum(self.d_sizes[1:])
        return 4 * (5 * weights + 4 * acts)

    def __repr__(self):
        return f"GAN(target={self.target.spec!r}, G={self.g_sizes}, D={self.d_sizes}, loss={self.cfg.train.loss!r})"

    # --- the parts --------------------------------------------------------------------------------------------
    def noise(self, key: jax.Array, n: int) -> jax.Array:
        """I: G's input. -> (n, noise_dim)"""
        shape = (n, self.cfg.model.noise_dim)
        uniform = self.cfg.model.noise == "uniform"
        return fast.materialize(jax.random.uniform(key, shape) if uniform else jax.random.normal(key, shape))

    def code_logits(self, params) -> jax.Array:
        """Log-probabilities (up to a constant) of G's codes: learned, or all 0 (equal). -> (codes,)"""
        if self.cfg.model.code_weights == "learned":
            return params["logits"]
        return jnp.zeros((self.cfg.model.codes,))

    def G(self, params, z: jax.Array, code: jax.Array | None = None) -> jax.Array:
        """G's output in the space G and D work in (y, the warped one under model.warp; else the target's units):
        z (n, noise_dim), code (n,) int when model.codes -> (n, dim)"""
        net = params["net"] if self.g_extras else params
        if code is None:
            y = mlp(net, z, self.g_acts)
        else:  # each code its own place and width: x = loc_c + exp(log_scale_c) * net(z, c)
            y = params["loc"][code] + jnp.exp(params["log_scale"][code]) * mlp_coded(net, z, code, self.g_acts)
        return self.shift + self.scale * y

    def fakes(self, params, key: jax.Array, n: int) -> tuple[jax.Array, jax.Array | None]:
        """n training samples of G, in its working space (as G), and their weights: with codes, a stratified batch
        (every code equally often) weighted to stand for draws from the codes' probabilities (nets.code_weights);
        else weights None."""
        z = self.noise(key, n)
        if not self.cfg.model.codes:
            return self.G(params, z), None
        code = stratified_codes(n, self.cfg.model.codes)
        return self.G(params, z, code), code_weights(self.code_logits(params), code)

    def D(self, params, x: jax.Array) -> jax.Array:
        """D's logits for a batch x (B, dim) in the target's units, one per D input: (B,), (B / pack,) or (1,)."""
        return self._D_free(params, self.to_free(x))

    def _D_free(self, params, y: jax.Array) -> jax.Array:
        """D on a batch in G's working space (G's output)."""
        return self._D_std(params, (y - self.shift) / self.scale)

    def to_free(self, x: jax.Array) -> jax.Array:
        """Target units -> G's working space (the identity without a warp)."""
        return x if self.warp is None else self.warp.to_free(x, jnp)

    def from_free(self, y: jax.Array) -> jax.Array:
        """G's working space -> target units (the identity without a warp)."""
        return y if self.warp is None else self.warp.from_free(y, jnp)

    def _D_std(self, params, u: jax.Array) -> jax.Array:
        """D on a batch already in standard units (the identity map unless model.standardize)."""
        return mlp(params, d_inputs(self.cfg.model, u), self.d_acts)[:, 0]

    def sample(self, state: dict, key: jax.Array, n: int) -> jax.Array:
        """n samples from G (its moving average when train.ema > 0), through a data file's decoder: G's output
        head per column type (distgan.columns). -> (n, dim)"""
        params = state["ema"] if "ema" in state else state["G"]
        x = self.draw(params, key, n)
        if self.target.decode is None:
            return x
        ref = self.draw(params, jax.random.PRNGKey(CALIBRATION_SEED), self.target.calibrate) \
            if self.target.calibrate else None  # the same noise for every call: G's own CDF, fixed with its weights
        return self.target.decode(x, ref)

    def draw(self, params: dict, key: jax.Array, n: int) -> jax.Array:
        """n outputs of G's raw head in the target's units: noise, and a discrete code per row when model.codes.
        -> (n, dim)"""
        if not self.cfg.model.codes:
            return self.from_free(self.G(params, self.noise(key, n)))
        kz, kc = jax.random.split(key)
        code = jax.random.categorical(kc, self.code_logits(params), shape=(n,))
        return self.from_free(self.G(params, self.noise(kz, n), code))

    # --- state and step ---------------------------------------------------------------------------------------
    def init(self, seed: jax.Array) -> dict:
        """A fresh state for one replicate from an integer seed (seed + k for replicate k)."""
        key = jax.random.PRNGKey(seed)
        kG, kD, key = jax.random.split(key, 3)
        G, D = init_mlp(kG, self.g_sizes), init_mlp(kD, self.d_sizes)
        if self.g_extras:
            m = self.cfg.model
            G = {"net": G}
            if m.codes:  # codes start at random places (in standard units), so each grows into its own part
                G["loc"] = jax.random.normal(jax.random.fold_in(kG, 1), (m.codes, self.dim))
                G["log_scale"] = jnp.full((m.codes, self.dim), math.log(m.code_scale))
            if m.codes and m.code_weights == "learned":
                G["logits"] = jnp.zeros((m.codes,))
            if m.codes and m.code_init == "data":  # or at the clusters of a real sample, weighted by their shares
                real = self.target.sample(jax.random.fold_in(kG, 2), KMEANS_SAMPLE)
                G["loc"], share = kmeans_best(jax.random.fold_in(kG, 3),
                                              (self.to_free(real) - self.shift) / self.scale, m.codes, m.code_restarts)
                if "logits" in G:
                    G["logits"] = jnp.log(jnp.maximum(share, 1.0 / KMEANS_SAMPLE))
        state = {"G": G, "D": D, "opt_G": self.opt_G.init(G), "opt_D": self.opt_D.init(D), "key": key,
                 "step": jnp.zeros((), jnp.int32), "nonfinite": jnp.zeros((), jnp.int32),
                 "nonfinite_step": jnp.full((), -1, jnp.int32)}
        if self.cfg.train.ema > 0:
            state["ema"] = jax.tree.map(jnp.copy, G)  # its own buffers: the jitted chunk donates the state
        if self.cfg.train.auto_steps:  # the cooldown the loop decides (distgan.auto): none yet
            state["cool_from"], state["cool_steps"] = jnp.full((), -1, jnp.int32), jnp.ones((), jnp.int32)
        return state

    def lr_scale(self, state: dict) -> jax.Array | None:
        """With auto_steps, the learning rates' multiple at this step: 1, or once the loop has set a cooldown from
        step `cool_from`, falling linearly to 0 over `cool_steps` steps (then 0: the replicate is frozen). -> ()
        Without: None (the schedule is in the optimiser)."""
        if "cool_from" not in state:
            return None
        done = (state["step"] - state["cool_from"]).astype(jnp.float32) / state["cool_steps"]
        return jnp.where(state["cool_from"] < 0, 1.0, jnp.clip(1.0 - done, 0.0, 1.0))

    def _d_objective(self, D, real, fake, key, fake_weights=None):
        t, m = self.cfg.train, self.cfg.model
        real, fake = (real - self.shift) / self.scale, (fake - self.shift) / self.scale  # penalties in standard units
        logits = self._D_std(D, jnp.concatenate([real, fake])) if m.d_input != "batch" else \
            mlp(D, jnp.concatenate([d_inputs(m, real), d_inputs(m, fake)]), self.d_acts)[:, 0]
        r, f = jnp.split(logits, 2)  # one D call on real and fake together: the same maths, half the launches
        real_err, fake_err = losses.d_loss(t.loss, r, f, t.torch_bce, fake_weights)
        total = real_err + fake_err
        d_sum = lambda x: self._D_std(D, x).sum()  # noqa: E731
        group = partial(group_rows, m)
        if t.r1 > 0:
            total = total + 0.5 * t.r1 * losses.r1_penalty(d_sum, real, group)
        if t.gp > 0:
            total = total + t.gp * losses.gradient_penalty(d_sum, real, fake, key, group)
        return total, (real_err, fake_err, jax.nn.sigmoid(r).mean(), jax.nn.sigmoid(f).mean())

    def _g_objective(self, G, D, key):
        t = self.cfg.train
        kz, kr = jax.random.split(key) if t.code_energy > 0 else (key, None)
        x, weights = self.fakes(G, kz, t.batch_size)
        err = losses.g_loss(t.loss, self._D_free(D, x), t.torch_bce, weights)
        if t.code_energy > 0:  # two real batches of its own, in standard units as the codes' places are
            std = lambda y: (y - self.shift) / self.scale  # noqa: E731
            real, spread = (std(self.to_free(fast.materialize(self.target.sample(k, t.batch_size))))
                            for k in jax.random.split(kr))
            err = err + t.code_energy * losses.code_energy_gap(
                G["loc"], std(x), stratified_codes(t.batch_size, self.cfg.model.codes), real, spread)
        return err, x

    def step(self, state: dict) -> tuple[dict, dict]:
        """One training step: d_steps D updates, then g_steps G updates (the seed's loop body)."""
        t, B = self.cfg.train, self.cfg.train.batch_size
        key = jax.random.wrap_key_data(state["key"], impl=PRNG)
        key = jax.random.fold_in(key, state["step"])  # step t's randomness depends on (seed, t) alone
        G, D, opt_G, opt_D = state["G"], state["D"], state["opt_G"], state["opt_D"]
        lr = self.lr_scale(state)  # Adam's update is proportional to its learning rate: scaling it scales the rate
        for i in range(t.d_steps):
            kr, kz, kp = jax.random.split(jax.random.fold_in(key, i), 3)
            real = fast.materialize(self.target.sample(kr, B))  # (B, dim), drawn once (fast.materialize)
            fake, weights = jax.lax.stop_gradient(self.fakes(G, kz, B))  # (B, dim), D's step leaves G alone
            grads, (d_real, d_fake, d_real_out, d_fake_out) = jax.grad(self._d_objective, has_aux=True)(
                D, self.to_free(real), fake, kp, weights)
            updates, opt_D = self.opt_D.update(grads, opt_D, D)
            D = optax.apply_updates(D, _scaled(updates, lr))
        new = {}
        for j in range(t.g_steps):
            (g_err, x), grads = jax.value_and_grad(self._g_objective, has_aux=True)(
                G, D, jax.random.fold_in(key, t.d_steps + j))
            updates, opt_G = self.opt_G.update(grads, opt_G, G)
            G = optax.apply_updates(G, _scaled(updates, lr))
            if "ema" in state:
                decay = t.ema
                if t.ema_warmup:  # the number of G updates so far, as TF's ExponentialMovingAverage(num_updates)
                    n = state["step"] * t.g_steps + j
                    decay = jnp.minimum(t.ema, (1.0 + n) / (t.ema_warmup_k + n))
                new["ema"] = optax.incremental_update(G, new.get("ema", state["ema"]), 1.0 - decay)
        fake = self.from_free(fake)  # the logs' statistics in the target's units
        logs = {"d_real": d_real, "d_fake": d_fake, "g": g_err,
                "real_mean": real.mean(0), "real_std": real.std(0), "fake_mean": fake.mean(0), "fake_std": fake.std(0),
                "d_real_out": d_real_out, "d_fake_out": d_fake_out,
                "g_grads": grads}  # engine.run_steps logs their norm, g_grad, once per chunk
        # the non-finite guard's per-step part: the first step whose losses or gradients leave the finite numbers,
        # and which net: D if its losses did, or if G's did while G's own output stayed finite (D's update went bad),
        # else G; engine.run_steps rolls such a replicate back
        g_bad = ~(jnp.isfinite(g_err) & all_finite(grads))
        d_bad = ~jnp.isfinite(d_real + d_fake) | (g_bad & jnp.isfinite(x.sum()))
        bad = (state["nonfinite"] == 0) & (d_bad | g_bad)
        new.update({k: state[k] for k in ("cool_from", "cool_steps") if k in state})
        new.update(G=G, D=D, opt_G=opt_G, opt_D=opt_D, key=state["key"], step=state["step"] + 1,
                   nonfinite=jnp.where(bad, jnp.where(d_bad, 1, 2), state["nonfinite"]).astype(jnp.int32),
                   nonfinite_step=jnp.where(bad, state["step"] + 1, state["nonfinite_step"]))
        return new, logs


def _scaled(updates, lr: jax.Array | None):
    """Updates times the learning rates' multiple (GAN.lr_scale); None: as they are, the same program as before."""
    return updates if lr is None else jax.tree.map(lambda u: u * lr, updates)


def all_finite(tree) -> jax.Array:
    """Whether every number in a pytree is finite (a scalar bool)."""
    return jnp.stack([jnp.isfinite(x).all() for x in jax.tree.leaves(tree)]).all()
