import dataclasses

import numpy as np
import pytest

from pipeline.config import Composite, ConfigError, ModelConfig, group_from_dict, group_to_dict, parse_settings
from pipeline.model import reconstruct, train_autoencoder
from pipeline.robust import Robust, kept, trimmed_mean, window_weights
from pipeline.window import window_starts, window_view

ERRORS = np.array([1.0, 1.1, 0.9, 1.05, 0.95, 10.0])  # the last window's error is extreme


def test_a_window_with_an_extreme_error_weighs_nothing_after_the_warm_up():
    cfg = Robust(warmup=2, trim=0.2)  # one window in six left out
    for epoch in (0, 1):  # the warm-up: every window
        np.testing.assert_array_equal(window_weights(ERRORS, cfg, epoch), np.ones(6, np.float32))
    np.testing.assert_array_equal(window_weights(ERRORS, cfg, 2), [1, 1, 1, 1, 1, 0])
    np.testing.assert_array_equal(window_weights(ERRORS, cfg, 7), [1, 1, 1, 1, 1, 0])


def test_without_the_option_every_window_keeps_weight_one():
    for epoch in range(12):
        weights = window_weights(ERRORS, None, epoch)
        assert weights.dtype == np.float32
        np.testing.assert_array_equal(weights, np.ones(6, np.float32))


def test_the_trim_leaves_out_the_largest_errors_rounding_down_and_ties_by_position():
    np.testing.assert_array_equal(kept(ERRORS, 0.34), [True, False, True, True, True, False])  # 10 and 1.1
    np.testing.assert_array_equal(kept(ERRORS, 0.1), [True] * 6)  # 0.6 of a window: none
    np.testing.assert_array_equal(kept(np.array([2.0, 2.0, 2.0, 2.0]), 0.25), [True, True, True, False])
    assert trimmed_mean(ERRORS, 0.2) == pytest.approx(1.0)


@pytest.mark.parametrize("robust, message", [
    ({"warmup": 0}, "defaults.model.robust.warmup: must be at least 1"),
    ({"trim": 0}, "defaults.model.robust.trim: must be above 0 and below 0.5"),
    ({"trim": 0.5}, "defaults.model.robust.trim: must be above 0 and below 0.5"),
    ({"trim": -0.1}, "defaults.model.robust.trim: must not be negative"),
    ({"k": 3}, "defaults.model.robust: unknown key 'k'"),
])
def test_invalid_robust_settings_name_their_key(robust, message):
    with pytest.raises(ConfigError, match=message):
        parse_settings({"defaults": {"model": {"robust": robust}}}, "c")


def test_robust_is_off_unless_set_and_round_trips_through_the_stored_config():
    assert parse_settings({}, "c").defaults.model.robust is None
    settings = parse_settings({"defaults": {"model": {"robust": {"trim": 0.1}}},
                               "groups": [{"name": "a", "metrics": ["x"], "model": {"robust": {"warmup": 4}}}]}, "c")
    group = settings.groups[0]
    assert group.model.robust == Robust(warmup=4, trim=0.1)  # the group's keys over the defaults'
    assert group_from_dict(group_to_dict(group)) == group
    stored = group_to_dict(group)
    del stored["model"]["robust"]  # a model version stored before the option
    assert group_from_dict(stored).model.robust is None
    off = parse_settings({"defaults": {"model": {"robust": None}}}, "c")
    assert off.defaults.model.robust is None


def incident_series(n=600, window=12):
    """Two sines with a level shift over steps 200-239 (inside the training range): an incident."""
    t = np.arange(n)
    values = np.stack([np.sin(2 * np.pi * t / 24), np.cos(2 * np.pi * t / 24)], axis=1).astype(np.float32)
    values[200:240] += 3.0
    return window_view(values, window), window_starts(n, window, 1)


CFG = ModelConfig(units=8, bottleneck=3, epochs=8, batch_size=32, patience=8)  # every epoch runs


def test_robust_training_leaves_the_incident_out_and_reconstructs_it_worse():
    view, starts = incident_series()
    robust = dataclasses.replace(CFG, robust=Robust(warmup=2, trim=0.1))
    lines = []
    plain = train_autoencoder(view, starts[:450], starts[450:], CFG, emit=lambda _: None)
    trained = train_autoencoder(view, starts[:450], starts[450:], robust, emit=lines.append)
    assert "left_out" not in lines[1] and all("left_out=" in line for line in lines[2:])
    assert all(int(line.split("left_out=")[1].split()[0]) == 45 for line in lines[2:])  # a tenth of 450
    incident = starts[(starts > 200 - 12) & (starts < 240)]
    normal = starts[(starts > 260) & (starts < 450)]

    def error(model, at):
        return np.mean([np.mean(np.square(r - x)) for _, x, r, _ in reconstruct(model, view, at)])

    # the incident stands out more against normal windows when it was not learnt
    assert error(trained.model, incident) / error(trained.model, normal) > \
        error(plain.model, incident) / error(plain.model, normal)
    again = train_autoencoder(view, starts[:450], starts[450:], robust, emit=lambda _: None)
    for first, second in zip(trained.model.get_weights(), again.model.get_weights()):
        np.testing.assert_array_equal(first, second)  # seeded: the same weights each time


def test_a_composite_model_trims_by_its_error_over_the_window_and_the_predicted_steps():
    """The per-window errors the trim reads are the loss's: a composite model's over the span."""
    view, starts = incident_series(window=16)  # 12 steps encoded, 4 predicted
    cfg = dataclasses.replace(CFG, epochs=3, composite=Composite(horizon=4), robust=Robust(warmup=2, trim=0.1))
    lines = []
    trained = train_autoencoder(view, starts[:450], starts[450:], cfg, emit=lines.append)
    assert "left_out=45 " in lines[2] and trained.epochs == 3
    _, x, recon, _ = next(reconstruct(trained.model, view, starts[450:]))
    assert x.shape[1:] == recon.shape[1:] == (16, 2)
