"""Trained diffusion stages (cs_toolkit.learned.diffusion): gradients, the projection, files."""

import json
import zipfile

import numpy as np
import pytest
from scipy.ndimage import correlate

from cs_toolkit.exceptions import ModelFileError, ValidationError
from cs_toolkit.learned.diffusion import (
    DiffusionStages,
    _pad,
    _pad_adjoint,
    load_diffusion,
    train_diffusion,
)
from cs_toolkit.signals.image import BlockConstraint, measure_image


class _DenseConstraint:
    """Naive reference: the affine set {x : A vec(x) = y} with a dense pseudo-inverse."""

    def __init__(self, shape, m, rng):
        n = shape[0] * shape[1]
        self.A = rng.standard_normal((m, n))
        self.P = np.linalg.pinv(self.A)
        self.y = self.A @ rng.uniform(0, 255, n)
        self.shape = shape

    def project(self, u):
        v = u.ravel()
        return (v + self.P @ (self.y - self.A @ v)).reshape(self.shape)

    def null_project(self, g):
        v = g.ravel()
        return (v - self.P @ (self.A @ v)).reshape(self.shape)


def _random_model(rng, n_stages=3, s=3):
    m = DiffusionStages(n_stages, filter_size=s, n_knots=11, response_range=100.0)
    m.knots = rng.standard_normal(m.knots.shape) * 5
    m.filters = m.filters + 0.3 * rng.standard_normal(m.filters.shape)
    return m


def test_symmetric_pad_adjoint():
    rng = np.random.default_rng(0)
    x, g = rng.standard_normal((9, 11)), rng.standard_normal((13, 15))
    assert np.sum(_pad(x, 2) * g) == pytest.approx(np.sum(x * _pad_adjoint(g, 2)), abs=1e-12)


def test_untrained_stages_are_the_identity_and_the_projection():
    rng = np.random.default_rng(1)
    m = DiffusionStages(2)
    x0 = rng.uniform(0, 255, (32, 32))
    np.testing.assert_array_equal(m.forward(x0), x0)
    con = _DenseConstraint((32, 32), 100, rng)
    np.testing.assert_allclose(m.forward(x0, con), con.project(x0), atol=1e-9)


def test_stage_matches_a_naive_filter_loop():
    """u = x - sum_i K_i^T phi_i(K_i x) written with scipy's correlate on the padded image."""
    rng = np.random.default_rng(2)
    m = _random_model(rng, n_stages=1, s=5)
    x = rng.uniform(0, 255, (20, 23))
    xp = np.pad(x, 2, mode="symmetric")
    knots = np.linspace(-100, 100, 11)
    r = np.zeros_like(xp)
    for i in range(m.n_filters):
        k = m.filters[0][:, i] - m.filters[0][:, i].mean()
        k2 = k.reshape(5, 5)
        z = correlate(xp, k2, mode="constant")[2:-2, 2:-2]
        a = np.interp(z, knots, m.knots[0, i])
        full = np.zeros_like(xp)
        full[2:-2, 2:-2] = a
        r += correlate(full, k2[::-1, ::-1], mode="constant")  # the adjoint: convolution
    expected = x - _pad_adjoint(r, 2)
    np.testing.assert_allclose(m.forward(x), expected, rtol=1e-10, atol=1e-8)


def test_gradient_matches_central_differences():
    rng = np.random.default_rng(3)
    m = _random_model(rng)
    shape = (10, 12)
    samples = [(rng.uniform(0, 255, shape), rng.uniform(0, 255, shape), _DenseConstraint(shape, 30, rng)),
               (rng.uniform(0, 255, shape), rng.uniform(0, 255, shape), None)]
    _, g = m.loss_and_grad(samples)
    v0 = m.get_vector()
    nf = m.filters.size
    for part in ("filters", "knots", "all"):
        d = rng.standard_normal(v0.size)
        if part == "filters":
            d[nf:] = 0
        elif part == "knots":
            d[:nf] = 0
        h = 1e-6  # small: the influence functions are piecewise linear
        m.set_vector(v0 + h * d)
        lp, _ = m.loss_and_grad(samples)
        m.set_vector(v0 - h * d)
        lm, _ = m.loss_and_grad(samples)
        assert (lp - lm) / (2 * h) == pytest.approx(g @ d, rel=1e-5, abs=1e-6), part
    m.set_vector(v0)


def test_block_constraint_projects_and_is_self_adjoint():
    rng = np.random.default_rng(4)
    img = rng.uniform(0, 1, (64, 64))
    meas = measure_image(img, 0.25, block_size=16, rng=0)
    con = BlockConstraint(meas.Y[0], meas.A, meas.pinv, meas.padded_shape, 16)
    u = rng.uniform(0, 255, (64, 64))
    p = con.project(u)
    np.testing.assert_allclose(con.project(p), p, atol=1e-8)
    from cs_toolkit.transforms import image_to_tiles

    np.testing.assert_allclose(image_to_tiles(p, 16) @ meas.A.T, meas.Y[0], atol=1e-8)
    a, b = rng.standard_normal((2, 64, 64))
    assert np.sum(con.null_project(a) * b) == pytest.approx(np.sum(a * con.null_project(b)), rel=1e-10)
    Y, A, P = meas.Y[0], meas.A, meas.pinv
    for args, name in [((Y, A, P, (64, 60), 16), "shape"), ((Y, A[:, :100], P, (64, 64), 16), "A"),
                       ((Y, A, P.T, (64, 64), 16), "P"), ((Y[:3], A, P, (64, 64), 16), "Y")]:
        with pytest.raises(ValidationError, match=f"^{name} must"):
            BlockConstraint(*args)


@pytest.mark.slow
def test_training_lowers_the_error_and_keeps_the_best_iterate():
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[:48, :48]
    clean = [np.where((xx - 20 - 3 * k) ** 2 + (yy - 24) ** 2 < 150, 200.0, 50.0) for k in range(3)]
    noisy = [c + 15 * rng.standard_normal(c.shape) for c in clean]
    samples = [(n, c, None) for n, c in zip(noisy[:2], clean[:2])]
    val = [(noisy[2], clean[2], None)]
    m = DiffusionStages(2, filter_size=3)
    before = m.loss_and_grad(val)[0]
    hist = train_diffusion(m, samples, validation=val, max_iter=15)
    after = m.loss_and_grad(val)[0]
    assert after < 0.7 * before
    assert hist["best_val_psnr_db"] == pytest.approx(10 * np.log10(255 ** 2 / after), abs=1e-6)
    assert max(hist["val_psnr_db"]) == pytest.approx(hist["best_val_psnr_db"])


def test_save_load_round_trip(tmp_path):
    rng = np.random.default_rng(6)
    m = _random_model(rng, n_stages=2)
    p = m.save(tmp_path / "stages.npz")
    m2 = load_diffusion(p)
    np.testing.assert_array_equal(m2.get_vector(), m.get_vector())
    x = rng.uniform(0, 255, (16, 16))
    np.testing.assert_array_equal(m2.forward(x), m.forward(x))


def _rewrite(src, dst, **changes):
    with np.load(src, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(arrays["__metadata__"].tobytes())
    meta.update(changes.pop("meta", {}))
    arrays["__metadata__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    arrays.update(changes)
    np.savez(dst, **arrays)
    return dst


def test_bad_files_are_refused(tmp_path):
    rng = np.random.default_rng(7)
    good = _random_model(rng, n_stages=2).save(tmp_path / "good.npz")
    bad_knots = np.full((2, 8, 11), np.nan)
    cases = {
        "nan.npz": dict(knots=bad_knots),
        "shape.npz": dict(knots=np.zeros((2, 8, 12))),
        "dtype.npz": dict(knots=np.zeros((2, 8, 11), dtype=np.float32)),
        "kind.npz": dict(meta={"format": "something-else"}),
        "even.npz": dict(meta={"filter_size": 4}),
        "range.npz": dict(meta={"response_range": -1}),
    }
    for name, change in cases.items():
        with pytest.raises(ModelFileError):
            load_diffusion(_rewrite(good, tmp_path / name, **change))
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ModelFileError, match="npz"):
        load_diffusion(tmp_path / "junk.npz")
    with zipfile.ZipFile(tmp_path / "pickle.npz", "w") as zf:
        zf.writestr("__metadata__.npy", b"\x80\x04K\x01.")
    with pytest.raises(ModelFileError):
        load_diffusion(tmp_path / "pickle.npz")
    with pytest.raises(ModelFileError, match="does not exist"):
        load_diffusion(tmp_path / "missing.npz")


def test_bad_arguments():
    with pytest.raises(ValidationError, match="filter_size"):
        DiffusionStages(2, filter_size=4)
    with pytest.raises(ValidationError, match="n_stages"):
        DiffusionStages(0)
    m = DiffusionStages(1)
    with pytest.raises(ValidationError, match="x0"):
        m.forward(np.zeros(10))
    with pytest.raises(ValidationError, match="NaN"):
        m.forward(np.full((16, 16), np.nan))
    with pytest.raises(ValidationError, match="samples"):
        train_diffusion(m, [])
    from cs_toolkit.signals.image import train_tnrd

    with pytest.raises(ValidationError, match="images"):
        train_tnrd([])
    with pytest.raises(ValidationError, match="ratios"):
        train_tnrd([np.zeros((32, 32))], ratios=(0.0,))
    with pytest.raises(ValidationError, match="ratios"):
        train_tnrd([np.zeros((32, 32))], ratios=())


def test_threads_give_the_same_loss_and_gradient():
    rng = np.random.default_rng(8)
    m = _random_model(rng)
    samples = [(rng.uniform(0, 255, (12, 12)), rng.uniform(0, 255, (12, 12)), None) for _ in range(3)]
    l1, g1 = m.loss_and_grad(samples)
    l2, g2 = m.loss_and_grad(samples, n_threads=2)
    assert l2 == pytest.approx(l1, rel=1e-12)
    np.testing.assert_allclose(g2, g1, rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# the image method "tnrd" and its training
# ---------------------------------------------------------------------------------------------
def _discs(k, size=64):
    """Piecewise-constant test pictures on [0, 1]: two discs on a ramp, shifted with k."""
    yy, xx = np.mgrid[:size, :size]
    img = 0.2 + 0.3 * xx / size
    img = np.where((xx - 20 - 2 * k) ** 2 + (yy - 24 - k) ** 2 < 120, 0.85, img)
    return np.where((xx - 44 + k) ** 2 + (yy - 42) ** 2 < 60, 0.1, img)


def test_identity_stages_give_the_bcs_spl_result():
    from cs_toolkit.signals import measure_image, reconstruct_image

    meas = measure_image(_discs(0), 0.25, block_size=16, rng=3)
    a = reconstruct_image(meas, method="bcs_spl")
    stages = DiffusionStages(2, filter_size=3)
    b = reconstruct_image(meas, method="tnrd", model=stages)
    np.testing.assert_allclose(b, a, atol=1e-9)
    assert stages.training_record is None  # the caller's model is not modified


@pytest.mark.slow
def test_trained_stages_beat_their_start_on_a_held_out_picture(tmp_path):
    from cs_toolkit.signals import compressive_image
    from cs_toolkit.signals.image import train_tnrd

    model, hist = train_tnrd([_discs(0), _discs(1)], validation=[_discs(2)], ratios=(0.25,), n_stages=2,
                             filter_size=3, block_size=16, max_iter=15, rng=0)
    assert hist["val_psnr_db"] and model.training_record["start"] == "bcs_spl"
    path = model.save(tmp_path / "m.npz")
    test = _discs(3)
    _, q_bcs = compressive_image(test, 0.25, method="bcs_spl", block_size=16, rng=9)
    _, q_tnrd = compressive_image(test, 0.25, method="tnrd", model=path, block_size=16, rng=9)
    assert q_tnrd["psnr"] > q_bcs["psnr"] + 0.5
    assert load_diffusion(path).training_record["ratios"] == [0.25]


@pytest.mark.slow
def test_tnrd_training_resumes_from_its_log(tmp_path, monkeypatch):
    from cs_toolkit.signals.image import train_tnrd

    kw = dict(validation=[_discs(2)], ratios=(0.25,), n_stages=1, filter_size=3, block_size=16, max_iter=4, rng=0)
    whole, hist = train_tnrd([_discs(0)], **kw)

    class Stop(Exception):
        pass

    def stop(it, *_):
        if it == 2:
            raise Stop

    from cs_toolkit.learned import diffusion

    plain = diffusion.train_diffusion
    with monkeypatch.context() as mp, pytest.raises(Stop):  # interrupted after two iterations
        mp.setattr(diffusion, "train_diffusion", lambda *a, **k: plain(*a, **dict(k, callback=stop)))
        train_tnrd([_discs(0)], checkpoint=tmp_path / "log.npz", **kw)
    assert (tmp_path / "log.npz").is_file()
    resumed, hist2 = train_tnrd([_discs(0)], checkpoint=tmp_path / "log.npz", **kw)
    assert np.array_equal(resumed.get_vector(), whole.get_vector())
    assert hist2["val_psnr_db"] == hist["val_psnr_db"]


@pytest.mark.slow
def test_training_samples_are_consistent_with_their_measurements():
    from cs_toolkit.signals.image import training_samples
    from cs_toolkit.transforms import image_to_tiles

    samples = training_samples([_discs(0)[:50, :60]], (0.1, 0.5), block_size=16, rng=1, n_jobs=2)
    assert len(samples) == 2
    for x0, x, con in samples:
        assert x.shape == x0.shape == (48, 48)  # cropped to whole blocks
        np.testing.assert_allclose(image_to_tiles(x0, 16) @ con.A.T, con.Y, atol=1e-6)
        np.testing.assert_allclose(image_to_tiles(x, 16) @ con.A.T, con.Y, atol=1e-6)
    with pytest.raises(ValidationError, match="start"):
        training_samples([_discs(0)], (0.1,), start="fista")
    with pytest.raises(ValidationError, match=r"images\[0\]"):
        training_samples([np.zeros((8, 8))], (0.1,), block_size=16)


def test_bundled_model_loads_and_names_a_known_start():
    from cs_toolkit.signals._image_tnrd import _tnrd_model
    from cs_toolkit.signals.image import DEFAULT_TNRD_MODEL, TNRD_STARTS

    net, start = _tnrd_model(None, 0.25)
    assert start in TNRD_STARTS
    assert load_diffusion(DEFAULT_TNRD_MODEL).n_stages == net.n_stages
    assert np.any(net.knots != 0)  # trained, not the identity
    from cs_toolkit.signals.image import default_tnrd_model

    assert default_tnrd_model(0.25) == DEFAULT_TNRD_MODEL
    special = default_tnrd_model(0.1)
    assert special != DEFAULT_TNRD_MODEL and special.is_file()
    assert _tnrd_model(None, 0.1)[0].training_record["ratios"] == [0.1]


@pytest.mark.slow
def test_cli_trains_and_uses_a_tnrd_model(tmp_path):
    import subprocess
    import sys

    from cs_toolkit.data import write_image

    d = tmp_path / "pics"
    d.mkdir()
    for k in range(5):
        write_image(d / f"p{k}.png", _discs(k))

    def run(*args):
        return subprocess.run([sys.executable, "-m", "cs_toolkit.cli", *map(str, args)], capture_output=True,
                              text=True, timeout=300)

    r = run("train", "--model", "tnrd", "--data", d, "--ratios", "0.25", "--stages", "2", "--quick",
            "--out", tmp_path / "m.npz")
    assert r.returncode == 0, r.stderr
    assert "4 training and 1 validation images" in r.stdout
    r = run("reconstruct", d / "p0.png", "--ratio", "0.25", "--method", "tnrd", "--model", tmp_path / "m.npz",
            "--block-size", "16", "--json", "--out", tmp_path / "rec.png")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1])["psnr"] > 20.0
    r = run("train", "--model", "tnrd", "--out", tmp_path / "x.npz")
    assert r.returncode != 0 and "--data" in r.stderr and "Traceback" not in r.stderr
    r = run("train", "--model", "tnrd", "--data", d, "--ratios", "0.25,2", "--out", tmp_path / "x.npz")
    assert r.returncode != 0 and "--ratios" in r.stderr


def test_psnr_objective_gradient_matches_central_differences():
    rng = np.random.default_rng(9)
    m = _random_model(rng)
    samples = [(rng.uniform(0, 255, (10, 11)), rng.uniform(0, 255, (10, 11)), None) for _ in range(3)]
    loss, g = m.loss_and_grad(samples, objective="psnr")
    expected = np.mean([10 * np.log10(np.mean((m.forward(x0) - xt) ** 2)) for x0, xt, _ in samples])
    assert loss == pytest.approx(expected, rel=1e-12)
    _, g2 = m.loss_and_grad(samples, objective="psnr", n_threads=2)
    np.testing.assert_allclose(g2, g, rtol=1e-10, atol=1e-14)
    v0, h = m.get_vector(), 1e-6
    d = rng.standard_normal(v0.size)
    m.set_vector(v0 + h * d)
    lp, _ = m.loss_and_grad(samples, objective="psnr")
    m.set_vector(v0 - h * d)
    lm, _ = m.loss_and_grad(samples, objective="psnr")
    assert (lp - lm) / (2 * h) == pytest.approx(g @ d, rel=1e-5, abs=1e-9)
    with pytest.raises(ValidationError, match="objective"):
        m.loss_and_grad(samples, objective="l1")
