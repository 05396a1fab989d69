"""All disk access, in one package: landing reads, atomic writes and locks (local folders and
object stores), published datasets, and the model registry. Callers use `from pipeline import io`
and the names below."""
from pipeline.io.files import LOCK, StorageError, locked, safe_child, write_json_atomic, write_parquet_atomic
from pipeline.io.labels import add_label, labels_path, read_anomalies, read_labels, remove_labels
from pipeline.io.landing import hive_group, landing_files, scan_file, scan_landed
from pipeline.io.landing_reads import read_series, time_span
from pipeline.io.published import (StateError, audit_path, dataset_dir, drop_lookback, landing_scans_path,
                                   lookback_path, newest_time, published_groups, read_audit, read_dataset,
                                   read_landing_scans, read_lookback, read_open_since, read_watermark, reset_state,
                                   state_groups, state_path, upsert_partitions, write_landing_scans, write_lookback,
                                   write_report, write_watermark)
from pipeline.io.store import ObjectPath, is_remote, location, use_storage
from pipeline.io.model_files import file_sha256, read_model_files, saved_weight_arrays, weight_arrays
from pipeline.io.registry import (PinnedError, current_version, log_decision, metadata_path, model_groups, model_path,
                                  pin_version, pinned_version, read_log, read_metadata, save_model_version,
                                  set_current_version, unpin_version, versions)

__all__ = [
    "LOCK", "StorageError", "locked", "safe_child", "write_json_atomic", "write_parquet_atomic",
    "add_label", "labels_path", "read_anomalies", "read_labels", "remove_labels",
    "hive_group", "landing_files", "read_series", "scan_file", "scan_landed", "time_span",
    "StateError", "audit_path", "dataset_dir", "drop_lookback", "landing_scans_path", "lookback_path", "newest_time",
    "published_groups", "read_audit", "read_dataset", "read_landing_scans", "read_lookback", "read_open_since",
    "read_watermark", "reset_state", "state_groups", "state_path",
    "upsert_partitions", "write_landing_scans", "write_lookback", "write_report", "write_watermark",
    "ObjectPath", "is_remote", "location", "use_storage",
    "PinnedError", "current_version", "file_sha256", "log_decision", "metadata_path", "model_groups", "model_path",
    "pin_version", "pinned_version", "read_log", "read_metadata", "read_model_files",
    "save_model_version", "saved_weight_arrays", "weight_arrays", "set_current_version", "unpin_version", "versions",
]
