import distgan


def test_seed_preset_trains_a_little(tmp_path):
    cfg = distgan.preset("seed")
    cfg.train.steps = 400
    cfg.eval.n_samples, cfg.eval.floor_draws = 2000, 20  # test_train.py's: its compiled programs serve both
    run = distgan.train(cfg, out=tmp_path / "r", echo=None, plots=False)
    assert run.sample(10).shape == (10, 1)
