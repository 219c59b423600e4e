"""Batch filling (core/batching.py): pooled channels_last buffers, the mean fill of invalid pixels."""

from __future__ import annotations

import numpy as np
from eurosat_landcover.core.batching import BatchFiller, alloc_pool, fill_invalid


def test_pool_buffers_are_channels_last_tensors_sharing_numpy_memory():
    import torch

    pool, pinned = alloc_pool(2, 4, 3, 8)
    assert len(pool) == 2 and pinned is False
    tensor, view = pool[0]
    assert tuple(tensor.shape) == (4, 3, 8, 8) and tensor.is_contiguous(memory_format=torch.channels_last)
    view[1, 2, 3, 4] = 7.0
    assert float(tensor[1, 2, 3, 4]) == 7.0


def test_fill_invalid_uses_the_window_band_means():
    w = np.stack([np.full((4, 4), 10.0), np.full((4, 4), 20.0)]).astype(np.float32)
    w[0, 0, 0] = 99.0
    w[:, 3, 3] = -5.0
    mask = np.ones((4, 4), bool)
    mask[0, 0] = mask[3, 3] = False
    fill_invalid(w, mask)
    assert w[0, 0, 0] == 10.0 and w[0, 3, 3] == 10.0 and w[1, 3, 3] == 20.0
    empty = np.ones((1, 2, 2), np.float32)
    fill_invalid(empty, np.zeros((2, 2), bool))
    assert not empty.any()


def test_filler_copies_windows_and_hands_out_batches_in_turn():
    p, C, nx = 4, 2, 5
    view = np.arange(C * p * nx * p, dtype=np.float32).reshape(C, p, nx, p)  # as StripBuffer.windows
    vmask = np.ones((p, nx, p), bool)
    vmask[0, 3, 0] = False  # window 3 has one invalid pixel
    pool, _ = alloc_pool(2, 3, C, p)
    filler = BatchFiller(pool, 3)
    take = np.array([1, 3])
    filler.add(7, view, vmask, take, complete=np.array([True, False]))
    assert filler.count == 2 and filler.room == 1 and not filler.full
    filler.add(8, view, vmask, np.array([0]), complete=np.array([True]))
    assert filler.full
    batch = filler.take(done_rows=8, cell_valid=[(7, np.ones(3, bool))], skipped=2)
    data = batch.data.numpy()
    np.testing.assert_array_equal(batch.rows, [7, 7, 8])
    np.testing.assert_array_equal(batch.cols, [1, 3, 0])
    np.testing.assert_array_equal(data[0], view[:, :, 1, :])
    np.testing.assert_array_equal(data[2], view[:, :, 0, :])
    assert data[1, 0, 0, 0] != view[0, 0, 3, 0]  # filled with the mean, not the invalid value
    assert batch.done_rows == 8 and batch.skipped == 2 and len(batch.cell_valid) == 1
    assert filler.count == 0 and filler.index == 1  # the next buffer of the pool
    bookkeeping = filler.take(9, [], 5, with_data=False)
    assert bookkeeping.data is None and bookkeeping.rows.size == 0 and bookkeeping.skipped == 5


def test_a_run_of_windows_and_scattered_windows_copy_the_same_pixels():
    """BatchFiller copies a run of windows from a view and scattered ones by index: same pixels,
    from a band- or a pixel-interleaved strip (StripBuffer holds the latter)."""
    from numpy.lib.stride_tricks import sliding_window_view

    C, rows, W, p, s = 3, 8, 40, 8, 4
    band_first = np.random.default_rng(0).random((C, rows, W), dtype=np.float32)
    for strip in (band_first, np.ascontiguousarray(band_first.transpose(1, 2, 0)).transpose(2, 0, 1)):
        view = sliding_window_view(strip[:, 0:p, :], p, axis=2)[:, :, ::s, :]
        vmask = np.ones((p, view.shape[2], p), bool)
        for take in (np.array([2, 3, 4]), np.array([1, 4, 6])):
            filler = BatchFiller(alloc_pool(1, 3, C, p)[0], 3)
            filler.add(0, view, vmask, take, complete=np.ones(3, bool))
            data = filler.take(1, [], 0).data.numpy()
            for i, t in enumerate(take):
                np.testing.assert_array_equal(data[i], band_first[:, 0:p, t * s : t * s + p])
