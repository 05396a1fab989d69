import pandas as pd
import pytest

from nightwatch_cli import main
from pipeline.config import ConfigError


def test_generate_writes_both_layouts(tmp_path, capsys):
    assert main(["generate", "--days", "2", "--landing", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "injected spike" in out and "wrote" in out
    wide = pd.read_parquet(next((tmp_path / "exports").glob("*.parquet")))
    assert "db-01.cpu" in wide.columns
    assert (tmp_path / "prometheus" / "group=queue-01" / "metrics.parquet").exists()


def test_bad_config_is_a_clear_error(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("defaults: {window: 0}\n")
    with pytest.raises(ConfigError, match="c.yaml: defaults.window: must be at least"):
        main(["--config", str(config), "generate", "--days", "1"])
