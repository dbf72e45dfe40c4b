import math

import numpy as np
import pytest
import torch
from scipy import ndimage

from sfplan.eval.video_metrics import changed_pixel_mask, count_scene_cuts, psnr, scene_cuts_per_video, ssim


def textured_images(shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    """Smooth random images in [0.2, 0.8] (float64), so offsets and noise stay inside [0, 1]."""
    generator = torch.Generator().manual_seed(seed)
    noise = torch.rand(shape, generator=generator, dtype=torch.float64)
    smooth = torch.nn.functional.avg_pool2d(noise.reshape(-1, 1, *shape[-2:]), 5, stride=1, padding=2)
    smooth = (smooth - smooth.amin()) / (smooth.amax() - smooth.amin())
    return (0.2 + 0.6 * smooth).reshape(shape)


def reference_ssim(x: np.ndarray, y: np.ndarray, data_range: float = 1.0) -> float:
    """SSIM of two (H, W) images the way skimage computes it with gaussian_weights=True."""

    def blur(image: np.ndarray) -> np.ndarray:
        return ndimage.gaussian_filter(image, sigma=1.5, truncate=3.5)  # radius 5: an 11x11 window

    mu_x, mu_y = blur(x), blur(y)
    var_x, var_y, cov = blur(x * x) - mu_x**2, blur(y * y) - mu_y**2, blur(x * y) - mu_x * mu_y
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    ssim_map = (2 * mu_x * mu_y + c1) * (2 * cov + c2) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return float(ssim_map[5:-5, 5:-5].mean())  # valid region only


# --- PSNR ---------------------------------------------------------------------------------


def test_psnr_of_a_constant_difference_of_0_1_is_20_db():
    target = torch.full((2, 3, 3, 16, 16), 0.5)
    assert psnr(target + 0.1, target).tolist() == pytest.approx([20.0, 20.0], abs=1e-4)


def test_psnr_is_per_sample_and_uses_data_range():
    target = torch.zeros(2, 3, 8, 8)
    prediction = torch.stack([torch.full((3, 8, 8), 0.1), torch.full((3, 8, 8), 0.01)])
    assert psnr(prediction, target).tolist() == pytest.approx([20.0, 40.0], abs=1e-3)
    assert psnr(prediction * 255, target, data_range=255.0).tolist() == pytest.approx([20.0, 40.0], abs=1e-3)


def test_psnr_of_identical_images_is_infinite():
    images = torch.rand(1, 3, 8, 8)
    assert math.isinf(psnr(images, images).item())


def test_masked_psnr_only_counts_masked_pixels():
    target = torch.zeros(1, 2, 3, 8, 8)
    prediction = target.clone()
    prediction[..., :4, :] = 0.1  # top half off by 0.1
    prediction[..., 4:, :] = 0.5  # bottom half off by 0.5
    top = torch.zeros(1, 2, 1, 8, 8, dtype=torch.bool)
    top[..., :4, :] = True
    assert psnr(prediction, target, mask=top).item() == pytest.approx(20.0, abs=1e-4)
    assert psnr(prediction, target, mask=~top).item() == pytest.approx(-20 * math.log10(0.5), abs=1e-4)
    assert psnr(prediction, target).item() == pytest.approx(-10 * math.log10((0.01 + 0.25) / 2), abs=1e-4)


def test_masked_psnr_of_an_empty_mask_is_nan():
    images = torch.rand(2, 3, 8, 8)
    mask = torch.zeros(2, 1, 8, 8, dtype=torch.bool)
    mask[0] = True
    values = psnr(images * 0.5, images, mask=mask)
    assert math.isfinite(values[0].item()) and math.isnan(values[1].item())


def test_changed_pixel_mask_marks_pixels_that_move_away_from_the_last_context_frame():
    context_last = torch.zeros(1, 3, 8, 8)
    target = torch.zeros(1, 2, 3, 8, 8)
    target[0, 0, 1, 2, 3] = 0.5  # one channel of one pixel changes in the first target frame
    target[0, 1, :, 5, 5] = 0.01  # below the threshold
    mask = changed_pixel_mask(context_last, target)
    assert mask.shape == (1, 2, 1, 8, 8) and mask.dtype == torch.bool
    assert mask.nonzero().tolist() == [[0, 0, 0, 2, 3]]
    assert changed_pixel_mask(context_last, target[:, 0]).shape == (1, 1, 8, 8)


def test_changed_pixel_mask_rejects_mismatched_frames():
    with pytest.raises(ValueError, match="matching context_last"):
        changed_pixel_mask(torch.zeros(1, 3, 8, 8), torch.zeros(1, 2, 3, 8, 9))


# --- SSIM ---------------------------------------------------------------------------------


def test_ssim_of_identical_images_is_one():
    images = textured_images((2, 3, 3, 32, 32))
    assert ssim(images, images).tolist() == pytest.approx([1.0, 1.0], abs=1e-6)


def test_ssim_of_constant_images_is_the_luminance_term():
    # Constant images have zero variance, so SSIM = (2 a b + C1) / (a^2 + b^2 + C1).
    a, b, c1 = 0.5, 0.6, 0.01**2
    expected = (2 * a * b + c1) / (a**2 + b**2 + c1)
    value = ssim(torch.full((1, 3, 16, 16), b, dtype=torch.float64), torch.full((1, 3, 16, 16), a, dtype=torch.float64))
    assert value.item() == pytest.approx(expected, abs=1e-9)


def test_ssim_matches_a_scipy_reference_per_channel_and_frame():
    target = textured_images((2, 2, 3, 24, 20), seed=1)
    prediction = (target + 0.1 * textured_images((2, 2, 3, 24, 20), seed=2) - 0.05).clamp(0, 1)
    pairs = zip(prediction.reshape(2, 6, 24, 20).numpy(), target.reshape(2, 6, 24, 20).numpy())
    expected = [np.mean([reference_ssim(x, y) for x, y in zip(*sample)]) for sample in pairs]
    assert ssim(prediction, target).tolist() == pytest.approx(expected, abs=1e-9)


def test_ssim_decreases_as_noise_grows():
    target = textured_images((1, 3, 32, 32))
    generator = torch.Generator().manual_seed(0)
    noise = torch.randn(target.shape, generator=generator, dtype=torch.float64)
    sigmas = torch.tensor([0.0, 0.02, 0.05, 0.1, 0.2], dtype=torch.float64).view(-1, 1, 1, 1)
    values = ssim((target + sigmas * noise).clamp(0, 1), target.expand(5, -1, -1, -1)).tolist()
    assert values[0] == pytest.approx(1.0) and all(a > b for a, b in zip(values, values[1:]))


def test_ssim_rejects_frames_smaller_than_the_window():
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8))


# --- input validation -----------------------------------------------------------------------


@pytest.mark.parametrize("metric", [psnr, ssim])
@pytest.mark.parametrize(
    ("prediction", "target", "message"),
    [
        (torch.zeros(1, 3, 16, 16), torch.zeros(1, 3, 16, 17), "shapes differ"),
        (torch.zeros(1, 3, 16, 16, dtype=torch.uint8), torch.zeros(1, 3, 16, 16), "float tensor"),
        (torch.full((1, 3, 16, 16), 2.0), torch.zeros(1, 3, 16, 16), r"must lie in \[0, 1.0\]"),
        (torch.full((1, 3, 16, 16), float("nan")), torch.zeros(1, 3, 16, 16), "NaN"),
        (torch.zeros(3, 16, 16), torch.zeros(3, 16, 16), r"\(B, C, H, W\)"),
    ],
)
def test_bad_inputs_raise_value_error(metric, prediction, target, message):
    with pytest.raises(ValueError, match=message):
        metric(prediction, target)


def test_psnr_rejects_a_mask_that_does_not_broadcast_or_is_not_bool():
    images = torch.zeros(2, 3, 8, 8)
    with pytest.raises(ValueError, match="does not broadcast"):
        psnr(images, images, mask=torch.ones(3, 1, 8, 8, dtype=torch.bool))
    with pytest.raises(ValueError, match="bool"):
        psnr(images, images, mask=torch.ones(2, 1, 8, 8))


# --- scene cuts ---------------------------------------------------------------------------


def moving_square(num_frames: int = 40, size: int = 64) -> np.ndarray:
    """(T, size, size, 3) uint8: a red square sliding one pixel per frame over a blue-grey background."""
    frames = np.empty((num_frames, size, size, 3), dtype=np.uint8)
    frames[:] = (40, 60, 80)
    for t in range(num_frames):
        frames[t, 20:36, 4 + t : 20 + t] = (220, 50, 50)
    return frames


def other_scene(num_frames: int = 40, size: int = 64) -> np.ndarray:
    """(T, size, size, 3) uint8: a static yellow scene with a blue block, unlike `moving_square`."""
    frames = np.empty((num_frames, size, size, 3), dtype=np.uint8)
    frames[:] = (200, 200, 30)
    frames[:, 10:50, 10:30] = (10, 10, 200)
    return frames


def test_a_slowly_moving_square_has_no_scene_cut():
    assert count_scene_cuts(moving_square()) == 0


def test_abrupt_switches_between_scenes_are_cuts():
    video = moving_square()
    video[20:] = other_scene()[20:]
    assert count_scene_cuts(video) == 1
    video[30:] = moving_square()[30:]  # and back
    assert count_scene_cuts(video) == 2


def test_a_cut_right_after_the_first_frames_is_counted():
    video = moving_square()
    video[2:] = other_scene()[2:]
    assert count_scene_cuts(video) == 1


def test_mild_frame_noise_is_not_a_cut():
    generator = np.random.default_rng(0)
    grey = np.repeat(moving_square().mean(axis=-1, keepdims=True), 3, axis=-1)
    noisy = np.clip(grey + generator.normal(0, 5, grey.shape), 0, 255).astype(np.uint8)
    assert count_scene_cuts(noisy) == 0


def test_scene_cuts_per_video_counts_each_video():
    switched = moving_square()
    switched[20:] = other_scene()[20:]
    assert scene_cuts_per_video(np.stack([moving_square(), switched])) == [0, 1]


@pytest.mark.parametrize(
    ("frames", "message"),
    [
        (moving_square().astype(np.float32) / 255, "uint8"),
        (moving_square()[..., 0], r"\(T, H, W, 3\)"),
        (np.zeros((0, 64, 64, 3), dtype=np.uint8), r"\(T, H, W, 3\)"),
    ],
)
def test_scene_cuts_reject_bad_frames(frames, message):
    with pytest.raises(ValueError, match=message):
        count_scene_cuts(frames)
