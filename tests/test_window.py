import numpy as np

from pipeline.window import clean_starts, fitted_window, iter_batches, window_starts, window_view


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


def test_a_phase_moves_the_regular_starts_and_keeps_the_first_and_last_steps_covered():
    assert window_starts(11, 4, 3, phase=1).tolist() == [0, 2, 5, 7]  # steps 2, 5 are at multiples of 3 from -1
    assert window_starts(11, 4, 3, phase=2).tolist() == [0, 1, 4, 7]


def test_a_later_read_with_its_own_phase_gets_the_same_windows_as_one_pass():
    whole = window_starts(40, 6, 4, phase=3)  # one pass from step 0: [0, 1, 5, 9, ..., 33, 34]
    later = window_starts(30, 6, 4, first=2, phase=(10 + 3) % 4) + 10  # a read from step 10, its windows from 12
    assert later.tolist() == [s for s in whole.tolist() if s >= 12] == [13, 17, 21, 25, 29, 33, 34]


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


def test_a_short_training_split_gets_a_shorter_window_and_stride():
    assert fitted_window(48, 8, 960, 20) == (48, 8)  # 20 windows' lengths: as configured
    assert fitted_window(48, 8, 320, 20) == (16, 8)  # a sensor file's 400 rows, less validation
    assert fitted_window(48, 8, 691, 20) == fitted_window(48, 8, 921, 20) == (32, 8)  # a range grown by a night
    assert fitted_window(48, 4, 200, 20) == (8, 4)
    assert fitted_window(48, 8, 160, 20) == (8, 8)  # the least window
    assert fitted_window(48, 8, 159, 20) == (48, 8)  # too short even for it: training refuses the range
    assert fitted_window(48, 8, 320, None) == (48, 8)  # off
