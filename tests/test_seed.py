"""The `seed` preset is the post's script number for number: its fields, and its training step against a NumPy
re-implementation of /work/shared/seed/seed_gan.py's loop body (PyTorch semantics: nn.Linear, BCELoss, Adam)."""

import jax
import numpy as np

from distgan.gan import GAN
from distgan.presets import get as preset
from distgan.targets import parse


def test_seed_preset_fields_are_the_scripts_numbers():
    cfg = preset("seed")
    m, t = cfg.model, cfg.train
    assert cfg.target.spec == "gaussian:mean=4,std=1.25" and not cfg.target.data  # data_mean, data_stddev
    assert (m.noise, m.noise_dim) == ("uniform", 1)  # gi_sampler: torch.rand(m, n), g_input_size 1
    assert (m.g_hidden, m.g_act) == (50, "elu,sigmoid")  # Generator: elu(map1), sigmoid(map2), map3 linear
    assert (m.d_hidden, m.d_act) == (50, "elu,elu")  # Discriminator: elu, elu, sigmoid(map3)
    assert (m.d_input, m.d_features, m.detach_mean) == ("batch", "variances", True)  # "Data and variances", .data
    assert (t.batch_size, t.steps, t.d_steps, t.g_steps, t.log_every) == (100, 30000, 1, 1, 200)
    assert (t.loss, t.torch_bce) == ("nonsaturating", True)  # nn.BCELoss, G trained against label 1
    assert (t.d_lr, t.g_lr, t.beta1, t.beta2, t.schedule) == (2e-4, 2e-4, 0.9, 0.999, "constant")
    assert (t.r1, t.gp, t.ema) == (0.0, 0.0, 0.0)  # none of these in the seed
    gan = GAN(cfg, parse(cfg.target.spec))
    assert gan.g_sizes == [1, 50, 50, 1] and gan.d_sizes == [200, 50, 50, 1]  # d_input_func(100) = 200


# --- the seed's loop body in NumPy, float64, with PyTorch's formulas -------------------------------------------

def _act(name, h):
    return np.where(h > 0, h, np.expm1(np.minimum(h, 0))) if name == "elu" else 1 / (1 + np.exp(-h))


def _act_grad(name, h, a):
    return np.where(h > 0, 1.0, np.exp(np.minimum(h, 0))) if name == "elu" else a * (1 - a)


def _forward(params, x, acts):
    cache, a = [], x
    for i, layer in enumerate(params):
        h = a @ layer["w"] + layer["b"]  # nn.Linear: x W^T + b, our w is W^T
        cache.append((a, h))
        a = _act(acts[i], h) if i < len(acts) else h
    return a, cache


def _backward(params, cache, acts, dout):
    grads = [None] * len(params)
    for i in reversed(range(len(params))):
        a_in, h = cache[i]
        if i < len(acts):
            dout = dout * _act_grad(acts[i], h, _act(acts[i], h))
        grads[i] = {"w": a_in.T @ dout, "b": dout.sum(0)}
        dout = dout @ params[i]["w"].T
    return grads, dout


def _decorate(x):  # decorate_with_diffs(x.t(), 2.0): (B, 1) -> (1, 2B), the mean a constant (.data)
    row = x.T
    return np.concatenate([row, (row - row.mean()) ** 2], 1)


def _bce(p, y):  # nn.BCELoss: logs clamped at -100; backward (p - y) / max(p (1 - p), 1e-12)
    loss = -(y * np.maximum(np.log(p), -100) + (1 - y) * np.maximum(np.log1p(-p), -100))
    return loss.mean(), (p - y) / np.maximum(p * (1 - p), 1e-12) / p.size


def _D(D, x, y):
    """BCE of D's sigmoid output on batch x (B, 1) against label y, and the gradients for D and for x."""
    v = _decorate(x)
    logit, cache = _forward(D, v, ("elu", "elu"))
    p = 1 / (1 + np.exp(-logit))
    loss, dp = _bce(p, y)
    grads, dv = _backward(D, cache, ("elu", "elu"), dp * p * (1 - p))
    B = x.shape[0]
    dx = (dv[0, :B] + dv[0, B:] * 2 * (x.T[0] - x.mean()))[:, None]  # no term through the detached mean
    return loss, grads, dx


def _adam(params, grads, opt, t, lr=2e-4, b1=0.9, b2=0.999, eps=1e-8):  # torch.optim.Adam, step t >= 1
    out = []
    for p, g, (m, v) in zip(params, grads, opt):
        layer = {}
        for k in p:
            m[k] = b1 * m[k] + (1 - b1) * g[k]
            v[k] = b2 * v[k] + (1 - b2) * g[k] ** 2
            denom = np.sqrt(v[k]) / np.sqrt(1 - b2**t) + eps
            layer[k] = p[k] - lr / (1 - b1**t) * m[k] / denom
        out.append(layer)
    return out


def test_seed_step_matches_a_numpy_port_of_the_scripts_loop():
    cfg = preset("seed")
    target = parse(cfg.target.spec)
    draws = {"real": [], "noise": []}  # what our step drew, in order, fed to the reference in the same order

    def record(name, x):  # an ordered callback: the jitted step hands each draw back to Python as it makes it
        jax.debug.callback(lambda a: draws[name].append(np.asarray(a, np.float64)), x, ordered=True)
        return x

    class Recording(GAN):
        def noise(self, key, n):
            return record("noise", super().noise(key, n))

    sample = target.sample
    target.sample = lambda key, n: record("real", sample(key, n))
    gan = Recording(cfg, target)
    step = jax.jit(gan.step)
    state = gan.init(0)
    to64 = lambda tree: jax.tree.map(lambda a: np.asarray(a, np.float64), tree)  # noqa: E731
    G, D = to64(state["G"]), to64(state["D"])
    zeros = lambda ps: [({k: np.zeros_like(v) for k, v in p.items()}, {k: np.zeros_like(v) for k, v in p.items()})  # noqa: E731
                        for p in ps]
    opt_G, opt_D = zeros(G), zeros(D)

    for t in range(1, 4):  # three steps of the seed's loop
        state, logs = jax.block_until_ready(step(state))
        real, z_d, z_g = draws["real"][-1], draws["noise"][-2], draws["noise"][-1]
        assert len(draws["real"]) == t and len(draws["noise"]) == 2 * t  # one real batch, two noise batches a step
        # D: real batch against label 1, detached fake batch against label 0, one Adam step on the summed grads
        d_real, g_real, _ = _D(D, real, 1.0)
        fake, _ = _forward(G, z_d, ("elu", "sigmoid"))
        d_fake, g_fake, _ = _D(D, fake, 0.0)
        D = _adam(D, jax.tree.map(np.add, g_real, g_fake), opt_D, t)
        # G: a fresh fake batch against label 1 through the updated D, one Adam step on G only
        fake_g, cache = _forward(G, z_g, ("elu", "sigmoid"))
        g_err, _, dx = _D(D, fake_g, 1.0)
        G = _adam(G, _backward(G, cache, ("elu", "sigmoid"), dx)[0], opt_G, t)

        np.testing.assert_allclose([logs["d_real"], logs["d_fake"], logs["g"]], [d_real, d_fake, g_err], rtol=1e-4)
        np.testing.assert_allclose(logs["fake_mean"][0], fake.mean(), rtol=1e-5)
        np.testing.assert_allclose(logs["fake_std"][0], fake.std(), rtol=1e-4)  # np.std, as the seed's stats()
        for ours, ref in ((state["G"], G), (state["D"], D)):
            for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(ref)):
                np.testing.assert_allclose(a, b, rtol=1e-4, atol=2e-6)
    moved = np.abs(np.asarray(state["D"][0]["w"], np.float64) - to64(gan.init(0)["D"])[0]["w"]).max()
    assert 5e-4 < moved < 7e-4  # three Adam steps of lr 2e-4 move a weight by at most 6e-4: the check has teeth
