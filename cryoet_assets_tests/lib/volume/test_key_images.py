"""Key images: central slab, streamed projection, ±3σ normalization and the four portal PNGs."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from cryoet_assets.lib.volume.key_images import (
    KEY_IMAGE_NAMES,
    PROJECTION_DEPTH,
    ProjectionAccumulator,
    central_slab,
    normalize,
    render_key_images,
)


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


@pytest.mark.parametrize(
    ("nz", "depth", "expected"),
    [
        (100, 40, (30, 70)),  # even surplus: 30 planes left out on each side
        (101, 40, (30, 70)),  # odd surplus: the spare plane is left out at the high-z end
        (41, 40, (0, 40)),
        (40, 40, (0, 40)),
        (7, 40, (0, 7)),
        (0, 40, (0, 0)),
        (10, 3, (4, 7)),  # odd depth: centred on plane nz // 2 = 5
        (11, 3, (4, 7)),
    ],
)
def test_central_slab(nz, depth, expected):
    assert central_slab(nz, depth=depth) == expected


def test_central_slab_default_depth_and_bad_arguments():
    assert PROJECTION_DEPTH == 40
    assert central_slab(500) == (230, 270)
    with pytest.raises(ValueError):
        central_slab(-1)
    with pytest.raises(ValueError):
        central_slab(10, depth=0)


@pytest.mark.parametrize("nz", [57, 40, 9])
@pytest.mark.parametrize("step", [1, 3, 16, 100])
def test_accumulator_over_slabs_equals_numpy_mean(nz, step):
    rng = np.random.default_rng(nz * 1000 + step)
    volume = rng.normal(5.0, 2.0, size=(nz, 6, 7)).astype(np.float32)
    accumulator = ProjectionAccumulator(volume.shape)
    for z0 in range(0, nz, step):
        accumulator.add(z0, volume[z0 : z0 + step])
    start, stop = central_slab(nz)
    result = accumulator.projection()
    assert result.dtype == np.float32 and result.shape == (6, 7)
    np.testing.assert_allclose(result, volume[start:stop].mean(axis=0, dtype=np.float64), rtol=1e-6)


def test_accumulator_takes_slabs_in_any_order_and_integer_dtypes():
    rng = np.random.default_rng(1)
    volume = rng.integers(-300, 300, size=(50, 4, 5), dtype=np.int16)
    accumulator = ProjectionAccumulator(volume.shape)
    for z0 in (40, 0, 20, 10, 30):
        accumulator.add(z0, volume[z0 : z0 + 10])
    np.testing.assert_allclose(accumulator.projection(), volume[5:45].mean(axis=0), rtol=1e-6)


def test_accumulator_names_missing_planes():
    volume = np.ones((100, 3, 3), dtype=np.float32)
    accumulator = ProjectionAccumulator(volume.shape)
    accumulator.add(0, volume[:35])  # central slab is 30-69
    accumulator.add(38, volume[38:40])
    accumulator.add(41, volume[41:69])
    with pytest.raises(ValueError, match=r"missing planes 35-37, 40, 69 of the central slab 30-69"):
        accumulator.projection()
    accumulator.add(35, volume[35:38])
    accumulator.add(40, volume[40:41])
    accumulator.add(69, volume[69:])  # straddles the end of the slab: only plane 69 is inside
    np.testing.assert_array_equal(accumulator.projection(), np.ones((3, 3), dtype=np.float32))


def test_accumulator_rejects_repeated_planes_wrong_shapes_and_empty_volumes():
    accumulator = ProjectionAccumulator((10, 3, 3))
    accumulator.add(0, np.zeros((5, 3, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="plane 4 was added"):
        accumulator.add(4, np.zeros((1, 3, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="shape"):
        accumulator.add(5, np.zeros((1, 3, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="no planes"):
        ProjectionAccumulator((0, 3, 3)).projection()


def test_normalize_maps_mean_to_mid_grey_and_clips_outliers():
    rng = np.random.default_rng(2)
    projection = rng.normal(10.0, 1.0, size=(200, 200))
    projection[0, 0] = 60.0
    projection[0, 1] = -40.0
    mean, sigma = projection.mean(), projection.std()
    # Two pixels set to known places; they move the statistics by far less than a grey level.
    projection[5, 5] = mean
    projection[5, 6] = mean + 1.5 * sigma
    grey = normalize(projection.astype(np.float32))
    assert grey.dtype == np.uint8 and grey.shape == projection.shape
    assert abs(int(grey[5, 5]) - 128) <= 1
    assert abs(int(grey[5, 6]) - (127.5 + 127.5 / 2)) <= 1
    assert grey[0, 0] == 255 and grey[0, 1] == 0
    assert grey.min() == 0 and grey.max() == 255
    assert abs(float(np.median(grey)) - 128) <= 2


def test_normalize_constant_image_is_mid_grey():
    grey = normalize(np.full((4, 5), 7.25, dtype=np.float32))
    assert grey.dtype == np.uint8
    assert (grey == 128).all()


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_normalize_rejects_non_finite(bad):
    projection = np.zeros((4, 4), dtype=np.float32)
    projection[1, 2] = bad
    with pytest.raises(ValueError, match="NaN or infinite"):
        normalize(projection)


def test_render_sizes_and_format():
    rng = np.random.default_rng(3)
    images = render_key_images(rng.normal(size=(300, 400)).astype(np.float32))
    assert tuple(images) == KEY_IMAGE_NAMES
    decoded = {name: decode(data) for name, data in images.items()}
    assert {name: image.size for name, image in decoded.items()} == {
        "original": (400, 300),
        "thumbnail": (134, 100),
        "snapshot": (512, 384),
        "expanded": (1024, 768),
    }
    for image in decoded.values():
        assert image.format == "PNG" and image.mode == "L"
    # The portal's gate: thumbnail height >= 100, snapshot height >= 384, width >= height * 4 / 3.
    assert decoded["thumbnail"].height >= 100 and decoded["thumbnail"].width >= 100 * 4 / 3
    assert decoded["snapshot"].height >= 384 and decoded["snapshot"].width >= 384 * 4 / 3


def test_render_original_is_the_normalized_projection():
    rng = np.random.default_rng(4)
    projection = rng.normal(size=(30, 50)).astype(np.float32)
    original = np.asarray(decode(render_key_images(projection)["original"]))
    np.testing.assert_array_equal(original, normalize(projection))


def test_render_turns_portrait_to_landscape():
    projection = np.zeros((400, 300), dtype=np.float32)
    projection[:100] = 1.0  # a bright band across the top
    images = {name: decode(data) for name, data in render_key_images(projection).items()}
    assert images["original"].size == (300, 400)
    snapshot = np.asarray(images["snapshot"])
    assert snapshot.shape == (384, 512)
    # A quarter turn counter-clockwise: the top band becomes the left quarter.
    bright, dark = snapshot[0, 0], snapshot[0, -1]
    assert bright > dark
    assert (snapshot[:, :120] == bright).all()
    assert (snapshot[:, 136:] == dark).all()
    assert images["thumbnail"].size == (134, 100) and images["expanded"].size == (1024, 768)


def test_render_crops_wide_images_to_4_3_in_the_centre():
    projection = np.zeros((100, 1000), dtype=np.float32)
    # The 4:3 crop of a 100x1000 image is 133 wide, from column (1000 - 133) // 2 = 433.
    projection[:, :433] = -1.0
    projection[:, 433:566] = 2.0
    projection[:, 566:] = -3.0
    grey = normalize(projection)
    centre, left, right = grey[0, 500], grey[0, 0], grey[0, -1]
    assert len({centre, left, right}) == 3
    images = {name: np.asarray(decode(data)) for name, data in render_key_images(projection).items()}
    assert set(np.unique(images["original"])) == {centre, left, right}
    for name, shape in (("thumbnail", (100, 134)), ("snapshot", (384, 512)), ("expanded", (768, 1024))):
        assert images[name].shape == shape
        assert (images[name] == centre).all(), name


def test_render_upscales_small_projections():
    rng = np.random.default_rng(5)
    images = {name: decode(data) for name, data in render_key_images(rng.normal(size=(12, 16))).items()}
    assert images["original"].size == (16, 12)
    assert images["thumbnail"].size == (134, 100)
    assert images["expanded"].size == (1024, 768)


def test_render_is_deterministic():
    rng = np.random.default_rng(6)
    projection = rng.normal(size=(90, 120)).astype(np.float32)
    first = render_key_images(projection)
    second = render_key_images(projection.copy())
    assert first == second
    assert len(set(first.values())) == 4
