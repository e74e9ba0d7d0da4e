"""Comparing floating-point results so that a claim holds on every CPU and GPU, not only where it was written.

Two results of the same arithmetic differ when the kernels differ (AVX-512 vs AVX2 vs plain C, one
thread vs two, cuBLAS vs CPU): sums are taken in another order and round differently. Elementwise
`allclose(rtol, atol)` then fails on the small elements of a large tensor. Here the error is measured
relative to the **largest magnitude of the reference** and the tolerance comes from the dtype's epsilon
and the **depth** of the computation (how many rounding stages the error passes through):

    relative error = max|got − want| / max|want|          tolerance = SLACK · eps(dtype) · depth

`assert_close` raises with both figures and returns the margin (error / tolerance; below 1 passes).
Where a claim is "bitwise" (the same operations in the same order), use `assert_equal`, never a tolerance.

Depth, as the course counts it: 1 for one elementwise op or one matmul; a transformer decoder layer is
about 8 (norm, projections, attention, MLP, residuals); a model is `layers × 8` plus the head; each
optimizer step adds the depth of a forward and backward pass.
"""

from __future__ import annotations

import json
import os

import torch

SLACK = 8.0  # rounding steps per depth unit that a reordered reduction may cost, with room to spare
DEPTH_PER_LAYER = 8  # one decoder layer: norm, q/k/v, attention, o, norm, gate/up, down, residuals
MARGINS_ENV = "FTCOURSE_MARGINS"  # when set, every comparison appends its margin to this file (JSON lines)


def eps(dtype: torch.dtype) -> float:
    """Machine epsilon of a floating dtype (fp32 1.19e-7, bf16 7.8e-3, fp16 9.8e-4, fp64 2.2e-16)."""
    if not dtype.is_floating_point:
        raise ValueError(f"dtype {dtype} is not a floating-point dtype; compare integers with assert_equal")
    return torch.finfo(dtype).eps


def tolerance(dtype: torch.dtype, depth: float = 1) -> float:
    """The relative tolerance for a result of `dtype` that went through `depth` rounding stages."""
    if isinstance(depth, bool) or not isinstance(depth, int | float) or not depth > 0:
        raise ValueError(f"depth={depth!r} must be a positive number (1 for one op, ~8 per decoder layer)")
    return SLACK * eps(dtype) * depth


def model_depth(num_layers: int, extra: int = 2) -> int:
    """The depth of a forward pass through `num_layers` decoder layers plus embedding and head."""
    return DEPTH_PER_LAYER * num_layers + extra


def relative_error(got: torch.Tensor, want: torch.Tensor) -> float:
    """max|got − want| / max|want|, computed in fp64 (0 when both are all zeros; inf for a mismatch against zeros)."""
    got_t, want_t = torch.as_tensor(got), torch.as_tensor(want)
    if got_t.shape != want_t.shape:
        raise ValueError(f"shapes differ: got {tuple(got_t.shape)}, want {tuple(want_t.shape)}")
    g, w = got_t.detach().to("cpu", torch.float64), want_t.detach().to("cpu", torch.float64)
    if not torch.isfinite(w).all():
        raise ValueError("the reference holds NaN or inf: compare finite values")
    if not torch.isfinite(g).all():
        return float("inf")
    diff = (g - w).abs().max().item() if g.numel() else 0.0
    scale = w.abs().max().item() if w.numel() else 0.0
    if scale == 0.0:
        return 0.0 if diff == 0.0 else float("inf")
    return diff / scale


def _dtype_of(got, want, dtype: torch.dtype | None) -> torch.dtype:
    if dtype is not None:
        return dtype
    kinds = [t.dtype for t in (got, want) if isinstance(t, torch.Tensor) and t.dtype.is_floating_point]
    if not kinds:
        return torch.float32
    return max(kinds, key=eps)  # the coarser of the two decides the rounding


def _record(what: str, error: float, tol: float) -> None:
    path = os.environ.get(MARGINS_ENV)
    if not path:
        return
    test = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" (", 1)[0]
    line = json.dumps({"test": test, "what": what, "error": error, "tolerance": tol,
                       "margin": error / tol if tol else float("inf")})
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(line + "\n")


def margin(got: torch.Tensor, want: torch.Tensor, *, dtype: torch.dtype | None = None, depth: float = 1,
           what: str = "") -> float:
    """error / tolerance (below 1 is close); recorded to $FTCOURSE_MARGINS when that is set."""
    err, tol = relative_error(got, want), tolerance(_dtype_of(got, want, dtype), depth)
    _record(what, err, tol)
    return err / tol


def is_close(got: torch.Tensor, want: torch.Tensor, *, dtype: torch.dtype | None = None, depth: float = 1) -> bool:
    """True when the relative error is within the tolerance for `dtype` (default: the coarser input's) and `depth`."""
    return margin(got, want, dtype=dtype, depth=depth) <= 1.0


def assert_close(got: torch.Tensor, want: torch.Tensor, *, dtype: torch.dtype | None = None, depth: float = 1,
                 what: str = "result") -> float:
    """Raise AssertionError when `got` is not within the scale-aware tolerance of `want`; return the margin."""
    err, tol = relative_error(got, want), tolerance(_dtype_of(got, want, dtype), depth)
    _record(what, err, tol)
    if not err <= tol:
        raise AssertionError(f"{what}: relative error {err:.3g} (max |Δ| / max |reference|) exceeds the tolerance "
                             f"{tol:.3g} = {SLACK:g} · eps({_dtype_of(got, want, dtype)}) · depth {depth:g} "
                             f"({err / tol:.2f}× it)")
    return err / tol


def assert_equal(got: torch.Tensor, want: torch.Tensor, what: str = "result") -> None:
    """Bitwise equality (same shape, dtype and bits), for claims that the same operations ran in the same order."""
    if got.shape != want.shape or got.dtype != want.dtype:
        raise AssertionError(f"{what}: {tuple(got.shape)} {got.dtype} vs {tuple(want.shape)} {want.dtype}")
    if not torch.equal(got, want):
        diff = (got.double() - want.double()).abs().max().item()
        raise AssertionError(f"{what}: not bitwise equal (max |Δ| = {diff:.3g})")


__all__ = ["DEPTH_PER_LAYER", "SLACK", "assert_close", "assert_equal", "eps", "is_close", "margin", "model_depth",
           "relative_error", "tolerance"]
