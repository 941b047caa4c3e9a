"""Each pyramid strategy reduces a block as its kind of volume needs, edge blocks padded with zeros."""

import numpy as np

from cryoet_assets.lib.volume.pyramid import MEAN_2X2X2, MEAN_YX, NEAREST_LABELS


def _padded_block_mean(block: np.ndarray, factors: tuple[int, int, int]) -> np.ndarray:
    shape = [-(-n // f) * f for n, f in zip(block.shape, factors)]
    padded = np.zeros(shape, dtype=np.float64)
    padded[: block.shape[0], : block.shape[1], : block.shape[2]] = block
    (z, fz), (y, fy), (x, fx) = ((n // f, f) for n, f in zip(shape, factors))
    return padded.reshape(z, fz, y, fy, x, fx).mean(axis=(1, 3, 5))


def _reduced(strategy, block: np.ndarray) -> np.ndarray:
    shape = tuple(-(-n // f) for n, f in zip(block.shape, strategy.factors))
    out = np.full(shape, np.nan, dtype=np.float32)
    strategy.reduce(block.copy(), out)
    return out


def test_tomogram_mean_averages_every_2x2x2_block_with_zero_padding():
    block = np.arange(3 * 5 * 4, dtype=np.float32).reshape(3, 5, 4)
    assert np.allclose(_reduced(MEAN_2X2X2, block), _padded_block_mean(block, (2, 2, 2)))
    assert MEAN_2X2X2.level_shapes((3, 5, 4), 3) == [(3, 5, 4), (2, 3, 2), (1, 2, 1)]
    assert MEAN_2X2X2.scale(10.0, 2) == [40.0, 40.0, 40.0]


def test_tilt_series_mean_keeps_every_tilt_and_averages_y_x():
    block = np.arange(3 * 5 * 3, dtype=np.float32).reshape(3, 5, 3)
    out = _reduced(MEAN_YX, block)
    assert out.shape == (3, 3, 2)
    assert np.allclose(out, _padded_block_mean(block, (1, 2, 2)))
    assert MEAN_YX.level_shapes((3, 5, 3), 3) == [(3, 5, 3), (3, 3, 2), (3, 2, 1)]
    assert MEAN_YX.scale(10.0, 1) == [10.0, 20.0, 20.0]


def test_label_pyramid_keeps_label_values_and_never_averages_them():
    block = np.zeros((4, 4, 3), dtype=np.float32)
    block[0::2, 0::2, 0::2] = 7
    block[1::2, 1::2, 1::2] = 3
    out = _reduced(NEAREST_LABELS, block)
    assert out.shape == (2, 2, 2)
    assert (out == 7).all()
