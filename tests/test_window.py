import numpy as np

from pipeline.window import clean_starts, iter_batches, window_starts, window_view


def test_window_view_is_a_view_with_the_right_layout():
    values = np.arange(12, dtype=np.float32).reshape(6, 2)
    view = window_view(values, 3)
    assert view.shape == (4, 3, 2)
    assert np.shares_memory(view, values)
    np.testing.assert_array_equal(view[1], values[1:4])


def test_short_series_has_no_windows():
    assert window_view(np.zeros((2, 3)), 5).shape == (0, 5, 3)
    assert window_starts(2, 5, 1).size == 0


def test_starts_cover_the_last_step():
    assert window_starts(10, 4, 3).tolist() == [0, 3, 6]
    assert window_starts(11, 4, 3).tolist() == [0, 3, 6, 7]


def test_clean_starts_drop_windows_with_missing_steps():
    missing = np.zeros(10, dtype=bool)
    missing[5] = True
    assert clean_starts(np.arange(7), missing, 4).tolist() == [0, 1, 6]


def test_batches_are_contiguous_copies():
    view = window_view(np.arange(20, dtype=np.float32).reshape(10, 2), 3)
    batches = list(iter_batches(view, np.arange(8), 3))
    assert [b[0].tolist() for b in batches] == [[0, 1, 2], [3, 4, 5], [6, 7]]
    assert all(b[1].flags["C_CONTIGUOUS"] for b in batches)
    np.testing.assert_array_equal(batches[2][1][1], view[7])
