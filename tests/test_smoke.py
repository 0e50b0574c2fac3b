import distgan


def test_seed_preset_trains_a_little(tmp_path):
    cfg = distgan.preset("seed")
    cfg.train.steps = 400
    cfg.eval.n_samples = 1000
    run = distgan.train(cfg, out=tmp_path / "r", echo=None, plots=False)
    assert run.sample(10).shape == (10, 1)
