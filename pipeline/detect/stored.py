"""Model versions stored before detection rules existed: their `threshold` settings and values
read as the rules they were, so they keep scoring the same."""
from __future__ import annotations

# Settings of the old `threshold` section with the values a missing key was read as: the
# defaults, except for checks added later, which a model stored before them did not have.
LEGACY_DEFAULTS = {
    "method": "mean_std", "k": 6.0, "quantile": 0.995, "factor": 1.0, "calibrate_on": "training",
    "combine": "mean", "smoothing": 6, "merge_gap": 48, "min_peak": 1.1, "level_steps": 0, "level_factor": 2.5,
    "repeat_days": 0, "repeat_tolerance": "1h", "repeat_factor": 0.8, "shift_steps": 0, "shift_baseline": 288,
    "shift_k": 6.0, "recent_days": 0, "recent_k": 6.0, "recent_factor": 1.5, "recent_shift_floor": 0.5,
}


def legacy_detection(threshold: dict) -> dict:
    """The `detection` settings (configuration-file shape) of an old `threshold` section: a check
    whose steps or days were 0 was off, and the recent-context days applied to all three uses."""
    old = {**LEGACY_DEFAULTS, **threshold}
    days = old["recent_days"]
    flags = {"score": {"method": old["method"], "k": old["k"], "quantile": old["quantile"], "factor": old["factor"],
                       "recent": {"days": days, "k": old["recent_k"]} if days else None}}
    if old["level_steps"]:
        flags["level"] = {"steps": old["level_steps"], "factor": old["level_factor"],
                          "recent": {"days": days, "factor": old["recent_factor"]} if days else None}
    if old["shift_steps"]:
        flags["shift"] = {"steps": old["shift_steps"], "baseline": old["shift_baseline"], "k": old["shift_k"],
                          "recent": {"days": days, "k": old["recent_k"], "floor": old["recent_shift_floor"]}
                          if days else None}
    filters = {"min_peak": {"ratio": old["min_peak"]}}
    if old["repeat_days"]:
        filters["daily_repeat"] = {"days": old["repeat_days"], "tolerance": old["repeat_tolerance"],
                                   "factor": old["repeat_factor"]}
    return {"combine": old["combine"], "smoothing": old["smoothing"], "calibrate_on": old["calibrate_on"],
            "merge_gap": old["merge_gap"], "flags": flags, "filters": filters}


def stored_states(meta: dict) -> dict[str, dict]:
    """Each flagging rule's fitted state in a model version's metadata, in either layout."""
    if "states" in meta:
        return meta["states"]
    old = meta["threshold"]
    return {"score": {"threshold": old["value"]}, "level": {"threshold": old.get("level_value")},
            "shift": {"thresholds": old.get("shift_values") or {}}}
