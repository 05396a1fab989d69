import pandas as pd
import pytest

from pipeline.training_range import TrainingRange

INDEX = pd.date_range("2026-11-01", periods=10, freq="1D", tz="UTC")  # Nov 1 .. Nov 10


def kept(training: TrainingRange, lookback: str = "28D") -> list[int]:
    return [day.day for day in INDEX[training.rows(INDEX, lookback)]]


def test_by_default_the_lookback_before_the_newest_step():
    assert kept(TrainingRange()) == list(range(1, 11))
    assert kept(TrainingRange(), "3D") == [7, 8, 9, 10]


def test_start_and_end_pin_the_range_each_alone_or_both():
    assert kept(TrainingRange(start="2026-11-04")) == [4, 5, 6, 7, 8, 9, 10]  # the lookback no longer applies
    assert kept(TrainingRange(end="2026-11-05"), "2D") == [3, 4, 5]  # the lookback before the pinned end
    assert kept(TrainingRange(start="2026-11-02", end="2026-11-03T12:00+01:00")) == [2, 3]


def test_first_steps_keeps_the_first_n_steps_of_the_range():
    assert kept(TrainingRange(first_steps=3)) == [1, 2, 3]
    assert kept(TrainingRange(start="2026-11-06", first_steps=2)) == [6, 7]
    assert kept(TrainingRange(first_steps=30)) == list(range(1, 11))


def test_excluded_intervals_are_inclusive_and_may_overlap():
    training = TrainingRange(exclude=("2026-11-02/2026-11-03", "2026-11-03T00:00Z/2026-11-04T06:00",
                                      "2026-11-09T12:00/2026-11-09T13:00"))
    assert [day.day for day in INDEX[training.excluded(INDEX)]] == [2, 3, 4]
    assert not TrainingRange().excluded(INDEX).any() and TrainingRange().rows(INDEX[:0], "1D").size == 0


@pytest.mark.parametrize("training, message", [
    (TrainingRange(start="last tuesday"), "start: not a time: 'last tuesday'"),
    (TrainingRange(start="2026-11-05", end="2026-11-04"), "start: 2026-11-05 is after end 2026-11-04"),
    (TrainingRange(first_steps=0), "first_steps: must be at least 1, got 0"),
    (TrainingRange(exclude=("2026-11-02",)), "exclude[0]: '2026-11-02' is not an interval 'start/end'"),
    (TrainingRange(exclude=("2026-11-01/2026-11-02", "2026-11-05/2026-11-04")), "exclude[1]: "
     "'2026-11-05/2026-11-04' ends before it starts"),
    (TrainingRange(exclude=("2026-11-01/never",)), "exclude[0]: not a time: 'never'"),
])
def test_settings_that_cannot_work_are_refused_naming_the_key(training, message):
    with pytest.raises(ValueError) as refused:
        training.check()
    assert str(refused.value).startswith(message), str(refused.value)
