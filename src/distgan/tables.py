"""The fit of a data table beyond KS and W1: each column's statistic for its type beside its floor, memorisation,
and whether the held-out rows are enough to judge a fit at all.

    levels        a discrete column's level counts, generated against held-out: the chi-square test of the 2 x L
                  table (Pearson's, no continuity correction); its floor is the median of the chi-square law with
                  L - 1 degrees of freedom, what two samples of one distribution score. No generated value may fall
                  outside the levels the training rows hold.
    atoms         each atom's rate among generated and held-out rows; the noise of their difference is
                  sqrt(p (1 - p) (1/m + 1/n)), p the pooled rate.
    memorisation  the distance to the closest record (DCR; Park et al. 2018, "Data synthesis based on generative
                  adversarial networks"): each generated row's distance to its nearest training row, beside each
                  held-out row's. The ratio of their means is about 1 for a generator that draws fresh rows from the
                  distribution, and 0 for one that replays its training rows. Numeric columns count in standard
                  units, a discrete column 1 for a different level.
"""

from __future__ import annotations

import jax
import numpy as np
from scipy import stats
from scipy.spatial import cKDTree

from .columns import level_counts
from .fast import ONE_SHOT

MIN_HELD = 100  # fewer held-out rows than this are too few to judge a fit (the report says so)
DCR_ROWS = 2000  # generated and held-out rows whose distance to the closest training row is measured


def chi2_levels(col, fake: np.ndarray, held: np.ndarray) -> dict:
    """Level counts of generated and held-out values (data units) and their chi-square test, beside its floor."""
    got, outside = level_counts(col, fake)
    ref, ref_out = level_counts(col, held)
    table = np.stack([np.append(got, outside), np.append(ref, ref_out)])  # (2, L + 1): the last, no level
    table = table[:, table.sum(0) > 0]
    if table.shape[1] < 2:
        chi2, p, dof = 0.0, 1.0, 1
    else:
        res = stats.chi2_contingency(table, correction=False)
        chi2, p, dof = float(res.statistic), float(res.pvalue), int(res.dof)
    floor = float(stats.chi2(dof).median())
    return {"chi2": chi2, "p": p, "dof": dof, "floor": floor, "ratio": chi2 / floor, "outside": outside}


def atom_rates(col, fake: np.ndarray, held: np.ndarray) -> list[dict]:
    """Each atom's rate in generated and held-out values (data units), and the noise of their difference."""
    out = []
    for a in col.atoms:
        q, p = float(np.mean(fake == a)), float(np.mean(held == a))
        pooled = (q * len(fake) + p * len(held)) / (len(fake) + len(held))
        noise = float(np.sqrt(pooled * (1 - pooled) * (1 / len(fake) + 1 / len(held))))
        out.append({"atom": a, "rate": q, "held_rate": p, "noise": noise,
                    "z": (q - p) / noise if noise > 0 else 0.0})
    return out


def features(cols, x: np.ndarray, shift: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Rows (n, dim) in the data's units as points for distances: numeric columns in standard units, a discrete
    column one-hot over its levels / sqrt(2) (a different level is 1 away). -> (n, features)"""
    parts = []
    for j, c in enumerate(cols):
        if c.type == "discrete":
            parts.append((x[:, j, None] == np.asarray(c.levels)[None]) / np.sqrt(2))
        else:
            parts.append(((x[:, j] - shift[j]) / scale[j])[:, None])
    return np.concatenate(parts, 1).astype(np.float64)


def memorisation(train: np.ndarray, fake: np.ndarray, held: np.ndarray, tree: cKDTree | None = None) -> dict:
    """Distance to the closest training row of generated and of held-out rows (features), their means, ratio and
    shares of exact copies. ratio None when the held-out rows are themselves copies (mean distance 0)."""
    tree = tree or cKDTree(train)
    d_fake, d_held = tree.query(fake[:DCR_ROWS])[0], tree.query(held[:DCR_ROWS])[0]
    mean_fake, mean_held = float(d_fake.mean()), float(d_held.mean())
    return {"fake": mean_fake, "held": mean_held, "ratio": mean_fake / mean_held if mean_held > 0 else None,
            "copies": float(np.mean(d_fake < 1e-9)), "held_copies": float(np.mean(d_held < 1e-9)),
            "rows": [len(d_fake), len(d_held)]}


def evaluate(sample_fn, states: dict, target, n: int, seed: int = 1717) -> dict:
    """The table's fit for every replicate: n samples each from sample_fn(state, key, n) -> (n, dim)."""
    key = jax.random.PRNGKey(seed)
    states = jax.tree.map(np.asarray, states)  # on one device: the calibration sorts by a host callback
    x = np.asarray(jax.jit(jax.vmap(lambda st: sample_fn(st, key, n)), compiler_options=ONE_SHOT)(states))
    cols, shift, scale = target.types, target.shift, target.scale
    held, train = target.to_data(target.data), target.to_data(target.train_data)
    tree = cKDTree(features(cols, train, shift, scale))
    held_f = features(cols, held, shift, scale)
    reps = []
    for k in range(x.shape[0]):
        fake = target.to_data(x[k])
        per = []
        for j, c in enumerate(cols):
            row = {"column": c.name}
            if c.type == "discrete":
                row["levels"] = chi2_levels(c, fake[:, j], held[:, j])
            elif c.atoms:
                row["atoms"] = atom_rates(c, fake[:, j], held[:, j])
            per.append(row)
        reps.append({"columns": per, "memorisation": memorisation(None, features(cols, fake, shift, scale), held_f,
                                                                   tree)})
    return {"train_rows": len(train), "holdout_rows": len(held), "judged": len(held) >= MIN_HELD,
            "types": [{"column": c.name, "type": c.spec(), "describe": c.describe()} for c in cols],
            "replicates": reps}
