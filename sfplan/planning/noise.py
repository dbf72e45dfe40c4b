"""Temporally correlated ("coloured") Gaussian noise for sampling action sequences.

iCEM (Pinneri et al., 2020, "Sample-efficient Cross-Entropy Method for Real-time Planning")
samples perturbations whose power spectrum falls as 1 / f^beta along time: beta = 0 is white
noise (each step independent), beta = 2 is Brownian-like (a perturbation persists over many
steps). A manipulator needs the second kind to try a different *behaviour* (close the gripper
and keep it closed, move 2 cm to the side) rather than jitter around the same one.
"""

from __future__ import annotations

import math

import torch


def colored_noise(shape: tuple[int, int, int], beta: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """(N, H, A) standard Gaussian noise, correlated along the time axis H with a 1 / f^beta power
    spectrum: random Fourier coefficients scaled by f^(-beta/2) (Timmer & Koenig 1995, as the
    `colorednoise` package draws them), normalised so that every entry has exactly unit variance
    whatever beta. beta = 0 is exactly `torch.randn(shape, generator=generator)`.
    """
    if beta < 0:
        raise ValueError(f"noise beta must be >= 0 (0: white noise, 2: Brownian-like), got {beta}")
    if beta == 0 or 0 in shape:  # (an FFT of nothing is an error, not an empty result)
        return torch.randn(shape, generator=generator)
    count, steps, dims = shape
    frequencies = torch.fft.rfftfreq(steps, dtype=torch.float64)
    frequencies[0] = 1.0 / steps  # the lowest resolvable frequency stands in for f = 0
    amplitude = frequencies ** (-beta / 2)
    real = torch.randn((count, dims, len(frequencies)), generator=generator, dtype=torch.float64) * amplitude
    imag = torch.randn((count, dims, len(frequencies)), generator=generator, dtype=torch.float64) * amplitude
    # A real signal's mean (and, for an even length, its Nyquist term) is real: those bins carry
    # their variance in the real part alone.
    real_only = [0, len(frequencies) - 1] if steps % 2 == 0 else [0]
    imag[..., real_only] = 0.0
    real[..., real_only] *= math.sqrt(2)
    # Var of each output entry: (2 a_0^2 + 4 sum of the complex bins' a_k^2 + 2 a_Nyquist^2) / steps^2
    bin_variance = 4 * amplitude**2
    bin_variance[real_only] = 2 * amplitude[real_only] ** 2
    sigma = math.sqrt(float(bin_variance.sum())) / steps
    noise = torch.fft.irfft(torch.complex(real, imag), n=steps) / sigma
    return noise.transpose(1, 2).to(torch.float32).contiguous()
