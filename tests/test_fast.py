"""Each speed trick (distgan.fast) computes what its plain version computes: values, slopes where they are
differentiated, and the switch that turns a trick off."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special

from distgan import fast

RNG = np.random.default_rng(0)


def _ulps(got, exact):
    """|got - exact| in units in the last place of the float32 nearest the exact (float64) value."""
    return np.abs(np.asarray(got, np.float64) - exact) / np.spacing(np.abs(exact).astype(np.float32)).astype(np.float64)


def test_elu_and_sigmoid_are_within_a_few_ulp_of_the_exact_values():
    # a dense grid over every branch (k = 0 near 0, the reduction elsewhere, the clamps at +-88 and beyond)
    x = np.concatenate([np.linspace(-120, 120, 400_001), np.linspace(-1, 1, 200_001), np.geomspace(1e-30, 1e-3, 5000),
                        -np.geomspace(1e-30, 1e-3, 5000), [0.0, -0.0, 88.0, -88.0, 1e30, -1e30]]).astype(np.float32)
    x64 = x.astype(np.float64)
    elu_exact = np.where(x64 > 0, x64, np.expm1(np.minimum(x64, 0)))
    sig_exact = special.expit(x64)
    elu, sig = np.asarray(jax.jit(fast.elu)(x)), np.asarray(jax.jit(fast.sigmoid)(x))
    assert _ulps(elu, elu_exact).max() <= 1.5
    tiny = sig_exact < 1.2e-38  # below float32's normal numbers, which XLA's CPU code flushes to zero
    # 1 / (1 + e) rounds twice after exp: jax.nn.sigmoid's own error on this grid is 2.4 ulp
    assert _ulps(sig[~tiny], sig_exact[~tiny]).max() <= 2.5 and np.all((sig[tiny] >= 0) & (sig[tiny] < 1.2e-38))
    near0 = (x < 0) & (x > -1e-3)  # no cancellation near 0: exp(x) - 1 is off by thousands of ulp there
    assert _ulps(elu[near0], elu_exact[near0]).max() <= 1 and _ulps(np.exp(x[near0]) - 1, elu_exact[near0]).max() > 1000
    assert np.all(elu[x <= -88] == -1.0) and np.all(sig[x >= 88] == 1.0) and np.all(sig[x <= -120] < 1e-38)
    for f in (fast.elu, fast.sigmoid):  # NaN and infinities go through as the exact functions' (the NaN guard sees them)
        y = np.asarray(jax.jit(f)(np.array([np.nan, np.inf, -np.inf], np.float32)))
        assert np.isnan(y[0]) and y[1] == (np.inf if f is fast.elu else 1.0) and y[2] == (-1.0 if f is fast.elu else 0.0)


def test_elu_and_sigmoid_slopes_are_the_closed_forms():
    x = jnp.linspace(-30, 30, 100_001)
    slope = lambda f: jax.jit(jax.vmap(jax.grad(f)))(x)  # noqa: E731  (one program each, not op by op)
    d_elu, d_sig = slope(fast.elu), slope(fast.sigmoid)
    x64 = np.asarray(x, np.float64)
    # torch's ELU backward takes the slope from the output, elu(x) + 1: exact to float32's spacing at 1
    np.testing.assert_allclose(d_elu, np.where(x64 > 0, 1.0, np.exp(np.minimum(x64, 0))), rtol=2e-7, atol=6e-8)
    s = special.expit(x64)
    np.testing.assert_allclose(d_sig, s * (1 - s), rtol=1e-5, atol=1.2e-7)  # 1 - y in float32: to 1's spacing
    np.testing.assert_allclose(d_sig, slope(jax.nn.sigmoid), rtol=1e-5, atol=1.2e-7)


def test_sort_equals_xla_sort_batched_with_ties_and_nans():
    x = np.round(RNG.normal(size=(3, 5, 400)), 1).astype(np.float32)  # many ties
    x[0, 1, 7] = x[2, 4, 0] = np.nan
    expected = jnp.sort(jnp.asarray(x), axis=-1)  # XLA's own sort (NaNs last)
    for got in (fast.sort(jnp.asarray(x)), jax.jit(jax.vmap(jax.vmap(fast.sort)))(jnp.asarray(x)),
                jax.jit(jax.vmap(fast.sort, in_axes=1, out_axes=1))(jnp.asarray(x))):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(expected))


@pytest.mark.parametrize("dim", [1, 3])
def test_fit_sorted_between_programs_equals_fit_in_one(monkeypatch, dim):
    """metrics.fit_many sorts on the host between two programs (fast.sort_between): the values of the one program
    that sorts inside by the host callback (to the bit), and of XLA's own sort (the plain trick); its programs call
    nothing back, so JAX's persistent cache keeps them."""
    from distgan import metrics
    fake = jnp.asarray(np.round(RNG.normal(size=(3, 700, dim)), 2), jnp.float32)  # ties, as a data file has
    real = jnp.asarray(RNG.normal(size=(3, 700, dim)) + 0.1, jnp.float32)
    assert fast.sort_between()
    between = metrics.fit_many(fake, real)
    inside = jax.device_get(metrics._fit_many(fake, real))  # fast.sort's callback inside one program
    monkeypatch.setattr(fast, "PLAIN", {"sort"})
    assert not fast.sort_between()
    plain = jax.device_get(jax.jit(jax.vmap(lambda f, r: metrics.fit(f, r)))(fake, real))  # XLA's sort
    assert between.keys() == inside.keys() == plain.keys() == set(metrics.STATS + ("mean", "std", "skew", "kurt") +
                                                                   (metrics.JOINT if dim > 1 else ()))
    for k in between:
        np.testing.assert_array_equal(between[k], inside[k], err_msg=k)  # the same numbers as before, to the bit
        np.testing.assert_allclose(between[k], plain[k], rtol=1e-5, atol=1e-6, err_msg=k)  # moments: fused apart
    # the distances are those of the per-statistic definitions (tested against scipy and closed forms)
    for i in range(3):
        for d in range(dim):
            assert between["ks"][i, d] == pytest.approx(float(metrics.ks_2samp(fake[i, :, d], real[i, :, d])), abs=1e-7)
            assert between["w1"][i, d] == pytest.approx(float(metrics.w1(fake[i, :, d], real[i, :, d])), rel=1e-6)
        if dim > 1:
            want = float(metrics.sliced_w1(fake[i], real[i], metrics.directions(dim)))
            assert between["sw1"][i] == pytest.approx(want, rel=1e-5)
    for program, args in ((metrics._to_sort_many, (fake, real)),
                          (metrics._fit_sorted_many, (fake, real, *metrics._to_sort_many(fake, real)))):
        assert "callback" not in program.lower(*args).as_text()


def test_materialize_is_the_identity_on_every_finite_value():
    """Noise, and real draws of any size (a data file's column may be in the billions): the same bits, signs of
    zero included."""
    u = jax.random.uniform(jax.random.PRNGKey(0), (100_000,))
    z = jax.random.normal(jax.random.PRNGKey(1), (100_000,)) * 1e3
    big = jnp.exp(jax.random.uniform(jax.random.PRNGKey(2), (100_000,), minval=-87.0, maxval=88.0)) * \
        jnp.sign(jax.random.normal(jax.random.PRNGKey(3), (100_000,)))  # magnitudes from 1e-38 to 1e38
    f32 = np.finfo(np.float32)
    edges = jnp.array([0.0, -0.0, np.nextafter(np.float32(1), np.float32(0)), 2.0**30, -(2.0**31), f32.max, -f32.max,
                       f32.tiny, f32.smallest_subnormal, -f32.smallest_subnormal], jnp.float32)
    for x in (u, z, big, edges):
        np.testing.assert_array_equal(np.signbit(jax.jit(fast.materialize)(x)), np.signbit(x))
        np.testing.assert_array_equal(np.asarray(jax.jit(fast.materialize)(x)), np.asarray(x))


def test_threefry_unrolled_draws_the_bits_of_jaxs_cpu_loop(monkeypatch):
    """unrolled_threefry writes the hash's rounds out; JAX's CPU lowering loops over them: the same bits, for the
    draws an initialiser and an evaluator make (bits, uniforms, normals, key splits)."""
    monkeypatch.setattr(fast, "PLAIN", set())
    key = jax.random.PRNGKey(7)

    def draws():  # a new function each time: lowered afresh under the lowering in place
        f = jax.jit(lambda k: (jax.random.bits(k, (10_001,)), jax.random.uniform(jax.random.fold_in(k, 3), (257, 3)),
                               jax.random.normal(k, (1000,)), jax.random.key_data(jax.random.split(k, 5))))
        return f(key), f.lower(key).as_text()

    try:
        assert fast.unrolled_threefry(False)
        rolled, rolled_text = draws()
        assert fast.unrolled_threefry(True)
        unrolled, unrolled_text = draws()
    finally:
        fast.unrolled_threefry(fast.THREEFRY_UNROLLED)  # as distgan.fast left it on import
    assert "while" in rolled_text and "while" not in unrolled_text  # the loop, and its rounds written out
    for a, b in zip(jax.tree.leaves(rolled), jax.tree.leaves(unrolled)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    monkeypatch.setattr(fast, "PLAIN", {"threefry"})
    assert not fast.unrolled_threefry()  # plain: JAX's lowering is left as it is


@pytest.mark.parametrize("name, trick, plain", [("elu", fast.elu, jax.nn.elu), ("sigmoid", fast.sigmoid, jax.nn.sigmoid),
                                                ("sort", fast.sort, jnp.sort),
                                                ("materialize", fast.materialize, lambda u: u)])
def test_a_trick_named_in_plain_is_its_plain_version(monkeypatch, name, trick, plain):
    x = jnp.asarray(RNG.uniform(0, 1, 1000) if name == "materialize" else RNG.normal(size=1000) * 5, jnp.float32)
    monkeypatch.setattr(fast, "PLAIN", {name})
    assert not fast.on(name) and all(fast.on(other) for other in fast.TRICKS if other != name)
    jaxpr = lambda f: str(jax.make_jaxpr(lambda v: f(v))(x))  # noqa: E731  (a new function: traced afresh)
    assert jaxpr(trick) == jaxpr(plain)  # traced under the switch: the plain program
    np.testing.assert_array_equal(np.asarray(jax.jit(lambda v: trick(v))(x)), np.asarray(plain(x)))
    monkeypatch.setattr(fast, "PLAIN", set())
    assert jaxpr(trick) != jaxpr(plain)  # and on, another program
