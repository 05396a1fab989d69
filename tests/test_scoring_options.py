"""Scoring with the model options (seasonal baseline, composite autoencoder, time-of-day inputs): each
version scores with the inputs it was trained on, and a mid-day backfill publishes what one pass does."""
import numpy as np
import pandas as pd

from pipeline import io
from pipeline.catalog import discover, load_aligned
from pipeline.detect.shift import calibrate, mean_shift
from pipeline.metadata import read_version
from pipeline.scoring import score_group
from pipeline.saved import load_autoencoder
from pipeline.seasonal import Seasonal, deseasonalised, fit_profile
from pipeline.time_inputs import TimeInputs
from pipeline.train import train_group
from tests.helpers import land_sample, overlaps, tiny_settings
from tests.scoring_support import (assert_same_outputs, assert_scaled_by_usual_errors_and_backfilled_as_one_pass, db_group,
                                   published, published_from, scoring_copy)


def test_a_seasonal_baseline_is_stored_with_the_version_and_taken_out_at_scoring_as_in_training(tmp_path):
    """With `model.seasonal`, the version stores each metric's daily profile (the training split's
    medians per 5-minute slot), scoring removes it as training did (the published metric scores
    average 1, the usual error, over the range they were calibrated on), and a backfill that reads
    from another step of the day publishes what one pass does."""
    land_sample(tmp_path, keep=("db-01",))
    seasonal = {"period": "1D", "tolerance": "10min"}
    settings = tiny_settings(tmp_path, groups=[{"name": "db-01", "metrics": ["db-01.*"],
                                                "model": {"seasonal": seasonal}}])
    catalog = discover(settings.storage.landing)
    db = db_group(settings)
    summary = train_group(settings, db, catalog, "train-run", emit=lambda _: None)
    stored = read_version(settings.storage.models_root, "db-01", summary["version"])
    assert stored.config.model.seasonal == Seasonal(period="1D", tolerance="10min")
    values = load_aligned(catalog, db).values
    split = int(len(values) * (1 - db.model.validation_fraction))
    expected = fit_profile(values.to_numpy()[:split], values.index[:split], Seasonal("1D", "10min"), db.interval_td)
    assert stored.seasonal.shape == (288, len(db.metrics))
    np.testing.assert_allclose(stored.seasonal, expected)
    assert np.ptp(stored.seasonal, axis=0).max() > 0  # the sample's daily cycle is in it

    backfilled = assert_scaled_by_usual_errors_and_backfilled_as_one_pass(settings, db, catalog, stored, tmp_path)
    assert len(backfilled["scores"]) == (2 * 288 - 6) * len(db.metrics)  # the steps from `start` on


def test_with_rules_read_values_the_shift_rule_is_fitted_on_the_values_not_the_residual(tmp_path):
    """`rules_read: values`: the model learns the residual, but the mean-shift thresholds are the
    ones the values give (scaled by the version's scaler), not the residual's."""
    land_sample(tmp_path, keep=("db-01",))
    settings = tiny_settings(tmp_path, groups=[{"name": "db-01", "metrics": ["db-01.*"], "model": {
        "seasonal": {"period": "1D", "rules_read": "values"}}}])
    catalog = discover(settings.storage.landing)
    db = db_group(settings)
    summary = train_group(settings, db, catalog, "run", emit=lambda _: None)
    stored = read_version(settings.storage.models_root, "db-01", summary["version"])
    assert stored.config.model.seasonal.rules_read == "values" and stored.seasonal is not None
    aligned = load_aligned(catalog, db).values
    shift = next(rule for rule in db.detection.flags if rule.name == "shift")

    def thresholds(values: np.ndarray) -> np.ndarray:
        return calibrate(mean_shift(stored.scaler.transform(values), shift.steps, shift.baseline), shift.k)

    residual = deseasonalised(aligned.to_numpy(), aligned.index, stored.seasonal, db.interval_td)
    got = np.array([stored.states["shift"]["thresholds"][m] for m in db.metrics])
    np.testing.assert_allclose(got, thresholds(aligned.to_numpy()), rtol=1e-5)
    assert not np.allclose(got, thresholds(residual), rtol=1e-2)


def test_a_composite_model_scores_each_step_with_what_the_windows_before_it_foretold(tmp_path):
    """With `model.composite`, windows span the encoded steps and the predicted ones after them in
    training and scoring alike: the version records the horizon, the injected incidents are found,
    every step is scored once, each feature row's `window_end` is its span's last step, and a
    backfill from the middle of a day publishes what one pass does."""
    injected = land_sample(tmp_path, keep=("db-01",))
    settings = tiny_settings(tmp_path, groups=[{"name": "db-01", "metrics": ["db-01.*"],
                                                "model": {"composite": {"horizon": 6}}}])
    catalog = discover(settings.storage.landing)
    db = db_group(settings)
    summary = train_group(settings, db, catalog, "train-run", emit=lambda _: None)
    stored = read_version(settings.storage.models_root, "db-01", summary["version"])
    assert stored.config.model.composite.horizon == 6 and stored.config.span == db.window + 6

    score_group(settings, db, catalog, "score-run", emit=lambda _: None)
    one_pass = published(settings)
    scores, features = one_pass["scores"], one_pass["features"]
    steps = scores["timestamp"].drop_duplicates()
    assert len(scores) == len(steps) * len(db.metrics) and steps.is_monotonic_increasing
    assert steps.diff().dropna().eq(db.interval_td).all()
    assert scores["score"].notna().all()  # the newest steps too: the spans that end there predicted them
    first_end = steps.iloc[0] + (db.span - 1) * db.interval_td
    assert features["window_end"].min() >= first_end and features["window_end"].max() == steps.iloc[-1]
    anomalies = one_pass["anomalies"]
    for incident in injected:
        assert overlaps(anomalies, incident.start, incident.end), incident

    copy = scoring_copy(settings, tmp_path / "backfill")
    start = scores["timestamp"].max() - pd.Timedelta("2D") + pd.Timedelta("35min")
    score_group(copy, db, discover(copy.storage.landing), "score-run", start=start, emit=lambda _: None)
    assert_same_outputs(published_from(published(copy), start), published_from(one_pass, start))




def test_time_inputs_are_read_by_the_encoder_and_scoring_gives_it_the_inputs_training_did(tmp_path):
    """With `model.time_inputs`, the saved model (loaded in safe mode) reads each step's metrics
    and its sin/cos of the time of day and reconstructs the metrics only; the version records the
    setting; scoring feeds the model what training did (the published metric scores average 1, the
    usual error, over the range they were calibrated on), and a backfill from the middle of a day
    publishes what one pass does."""
    land_sample(tmp_path, keep=("db-01",))
    settings = tiny_settings(tmp_path, groups=[{"name": "db-01", "metrics": ["db-01.*"],
                                                "model": {"time_inputs": {"periods": ["1D"]}}}])
    catalog = discover(settings.storage.landing)
    db = db_group(settings)
    summary = train_group(settings, db, catalog, "train-run", emit=lambda _: None)
    stored = read_version(settings.storage.models_root, "db-01", summary["version"])
    assert stored.config.model.time_inputs == TimeInputs(periods=("1D",))
    model = load_autoencoder(io.model_path(settings.storage.models_root, "db-01", summary["version"]))
    assert model.template.input_shape == (None, db.window, len(db.metrics) + 2)
    assert model.template.output_shape == (None, db.window, len(db.metrics))

    assert_scaled_by_usual_errors_and_backfilled_as_one_pass(settings, db, catalog, stored, tmp_path)
