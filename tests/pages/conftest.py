"""What the page tests share: an empty database of their own."""
import pytest


@pytest.fixture()
def fresh_db(tmp_path, monkeypatch):
    path = tmp_path / "fresh.duckdb"
    monkeypatch.setenv("MODELDIFF_DB", str(path))
    return path
