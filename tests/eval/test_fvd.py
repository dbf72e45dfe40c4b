import math
import warnings

import numpy as np
import pytest
import torch
from scipy import linalg

from sfplan.eval import frechet as fvd_module
from sfplan.eval.frechet import I3DFeatureExtractor, RandomConv3dExtractor, VideoFeatureExtractor, frechet_distance, fvd

# The I3D file is TorchScript, which torch 2.13 marks deprecated.
pytestmark = pytest.mark.filterwarnings(r"ignore:`torch\.jit\.\w+` is deprecated:DeprecationWarning")


def reference_frechet(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Fréchet distance through the symmetric form tr((S1^1/2 S2 S1^1/2)^1/2), by eigendecomposition."""
    values, vectors = np.linalg.eigh(sigma1)
    root1 = (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T
    inner = np.linalg.eigvalsh(root1 @ sigma2 @ root1)
    trace_root = np.sqrt(np.clip(inner, 0, None)).sum()
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_root)


def random_statistics(dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    generator = np.random.default_rng(seed)
    factor = generator.normal(size=(dim, dim))
    return generator.normal(size=dim), factor @ factor.T / dim + 0.1 * np.eye(dim)


def clips(num: int, seed: int, brightness: float = 0.5) -> torch.Tensor:
    """(num, 9, 3, 16, 16) float clips in [0, 1] around `brightness`."""
    generator = torch.Generator().manual_seed(seed)
    return (brightness + 0.2 * (torch.rand(num, 9, 3, 16, 16, generator=generator) - 0.5)).clamp(0, 1)


# --- Fréchet distance -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mu1", "var1", "mu2", "var2"), [(0.0, 1.0, 0.0, 1.0), (1.0, 2.0, -0.5, 0.5), (3.0, 0.1, 3.0, 4.0)]
)
def test_frechet_distance_of_1d_gaussians_has_a_closed_form(mu1, var1, mu2, var2):
    expected = (mu1 - mu2) ** 2 + var1 + var2 - 2 * math.sqrt(var1 * var2)
    assert frechet_distance(mu1, var1, mu2, var2) == pytest.approx(expected, abs=1e-12)


def test_frechet_distance_matches_a_direct_computation():
    (mu1, sigma1), (mu2, sigma2) = random_statistics(12, seed=0), random_statistics(12, seed=1)
    expected = reference_frechet(mu1, sigma1, mu2, sigma2)
    assert frechet_distance(mu1, sigma1, mu2, sigma2) == pytest.approx(expected, rel=1e-9)
    assert frechet_distance(mu2, sigma2, mu1, sigma1) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_of_identical_statistics_is_zero():
    mu, sigma = random_statistics(12, seed=0)
    assert frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-9)


def test_frechet_distance_retries_with_an_offset_when_the_square_root_fails(monkeypatch):
    (mu1, sigma1), (mu2, sigma2) = random_statistics(4, seed=0), random_statistics(4, seed=1)
    sqrtm, products = linalg.sqrtm, []

    def flaky_sqrtm(matrix: np.ndarray) -> np.ndarray:
        products.append(matrix)
        return np.full_like(matrix, np.nan) if len(products) == 1 else sqrtm(matrix)

    monkeypatch.setattr(fvd_module.linalg, "sqrtm", flaky_sqrtm)
    with pytest.warns(UserWarning, match="singular"):
        value = frechet_distance(mu1, sigma1, mu2, sigma2, eps=1e-3)
    sigma1, sigma2 = sigma1 + 1e-3 * np.eye(4), sigma2 + 1e-3 * np.eye(4)
    assert len(products) == 2 and np.allclose(products[1], sigma1 @ sigma2)
    assert value == pytest.approx(reference_frechet(mu1, sigma1, mu2, sigma2), rel=1e-9)


def test_frechet_distance_of_rank_deficient_covariances_stays_accurate():
    # 5 samples of 8-d features: both covariances have rank 4, so the product is singular.
    generator = np.random.default_rng(0)
    first, second = generator.normal(size=(5, 8)), generator.normal(size=(5, 8)) + 1.0
    stats1 = first.mean(axis=0), np.cov(first, rowvar=False)
    stats2 = second.mean(axis=0), np.cov(second, rowvar=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", linalg.LinAlgWarning)  # scipy may flag the product; the root is still fine
        assert frechet_distance(*stats1, *stats2) == pytest.approx(reference_frechet(*stats1, *stats2), abs=1e-4)
        assert frechet_distance(*stats1, *stats1) == pytest.approx(0.0, abs=1e-4)


def test_frechet_distance_rejects_mismatched_statistics():
    mu, sigma = random_statistics(3, seed=0)
    with pytest.raises(ValueError, match="means must be"):
        frechet_distance(mu, sigma, mu[:2], sigma)
    with pytest.raises(ValueError, match=r"covariances must be \(3, 3\)"):
        frechet_distance(mu, sigma, mu, sigma[:2, :2])
    with pytest.raises(ValueError, match="finite"):
        frechet_distance(mu * np.nan, sigma, mu, sigma)


# --- extractors -----------------------------------------------------------------------------


class FakeI3D(torch.nn.Module):
    """Mimics the I3D TorchScript call: per clip, (min, max, C, T, rescale, resize, return_features)."""

    def forward(
        self, x: torch.Tensor, rescale: bool = False, resize: bool = False, return_features: bool = False
    ) -> torch.Tensor:
        flags = [float(x.shape[1]), float(x.shape[2]), float(rescale), float(resize), float(return_features)]
        extremes = torch.stack([x.amin(dim=(1, 2, 3, 4)), x.amax(dim=(1, 2, 3, 4))], dim=1)
        return torch.cat([extremes, torch.tensor(flags).expand(x.shape[0], 5)], dim=1)


def fake_i3d_extractor() -> I3DFeatureExtractor:
    return I3DFeatureExtractor(torch.jit.script(FakeI3D()))


def test_i3d_from_a_missing_file_says_what_to_pass(tmp_path):
    with pytest.raises(FileNotFoundError, match="i3d_torchscript.pt.*pass its path"):
        I3DFeatureExtractor.from_file(tmp_path / "missing.pt")


def test_i3d_loads_torchscript_and_calls_it_like_stylegan_v(tmp_path):
    path = tmp_path / "i3d_torchscript.pt"
    torch.jit.script(FakeI3D()).save(str(path))
    extractor = I3DFeatureExtractor.from_file(path)
    videos = torch.zeros(2, 10, 3, 8, 8)
    videos[:, :, :, 0, 0] = 1.0
    features = extractor(videos)
    # input scaled to [-1, 1], laid out (B, 3, T, H, W), rescale=False, resize=True, return_features=True
    assert features.tolist() == [[-1.0, 1.0, 3.0, 10.0, 0.0, 1.0, 1.0]] * 2


def test_i3d_rejects_clips_too_short_for_the_network():
    with pytest.raises(ValueError, match="at least 9 frames"):
        fake_i3d_extractor()(torch.zeros(1, 8, 3, 8, 8))


@pytest.mark.parametrize("make_extractor", [RandomConv3dExtractor, fake_i3d_extractor])
def test_extractors_follow_the_protocol(make_extractor):
    extractor = make_extractor()
    assert isinstance(extractor, VideoFeatureExtractor) and extractor.name
    features = extractor(clips(3, seed=0))
    assert features.ndim == 2 and features.shape[0] == 3 and features.dtype == torch.float32


def test_random_conv3d_extractor_is_fixed_by_its_seed():
    videos = clips(2, seed=0)
    first, again, other = (RandomConv3dExtractor(seed=seed)(videos) for seed in (3, 3, 4))
    assert first.shape == (2, 64) and torch.equal(first, again) and not torch.equal(first, other)
    assert RandomConv3dExtractor(seed=3).name == "random-conv3d-seed3"


# --- FVD ------------------------------------------------------------------------------------


def test_fvd_of_identical_sets_is_zero():
    videos = clips(80, seed=0)
    assert fvd(videos, videos.clone(), RandomConv3dExtractor(), batch_size=80) == pytest.approx(0.0, abs=1e-6)


# random features of similar clips are nearly collinear, which scipy flags
@pytest.mark.filterwarnings("ignore::scipy.linalg.LinAlgWarning")
def test_fvd_grows_as_the_sets_drift_apart():
    extractor = RandomConv3dExtractor()
    real = clips(80, seed=0)
    same_distribution = fvd(real, clips(80, seed=1), extractor, batch_size=80)
    darker = fvd(real, clips(80, seed=1, brightness=0.3), extractor, batch_size=80)
    assert 0 < same_distribution < darker


@pytest.mark.parametrize(
    ("real", "fake", "message"),
    [
        (clips(4, 0), clips(4, 1)[:, :5], "differ in shape"),
        (clips(1, 0), clips(4, 1), "at least 2"),
        (clips(4, 0)[:, :, :1], clips(4, 1)[:, :, :1], r"\(N, T, 3, H, W\)"),
        (clips(4, 0) * 2, clips(4, 1), r"must lie in \[0, 1"),
        ((clips(4, 0) * 255).to(torch.uint8), clips(4, 1), "float tensor"),
    ],
)
def test_fvd_rejects_bad_inputs(real, fake, message):
    with pytest.raises(ValueError, match=message):
        fvd(real, fake, RandomConv3dExtractor())
