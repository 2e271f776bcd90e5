import pytest

from confparse import Config, InterpolationError

TEXT = """
[DEFAULT]
root = /srv

[paths]
data = ${root}/data
cache = ${data}/cache
logs = ${other:base}/logs
price = $$5
loop = ${loop}

[other]
base = /var/log/app
"""


@pytest.fixture
def cfg():
    return Config.from_string(TEXT)


def test_same_section_reference(cfg):
    assert cfg.get("paths", "data") == "/srv/data"


def test_nested_reference(cfg):
    assert cfg.get("paths", "cache") == "/srv/data/cache"


def test_cross_section_reference(cfg):
    assert cfg.get("paths", "logs") == "/var/log/app/logs"


def test_dollar_escape(cfg):
    assert cfg.get("paths", "price") == "$5"


def test_raw_skips_interpolation(cfg):
    assert cfg.get("paths", "cache", raw=True) == "${data}/cache"


def test_missing_reference(cfg):
    cfg.set("paths", "broken", "${nowhere}")
    with pytest.raises(InterpolationError, match="nowhere"):
        cfg.get("paths", "broken")


def test_cycle_is_reported(cfg):
    with pytest.raises(InterpolationError, match="cycle"):
        cfg.get("paths", "loop")
