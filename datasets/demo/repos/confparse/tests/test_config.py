import pytest

from confparse import Config, ConfigError, MissingOptionError, MissingSectionError

TEXT = """
[DEFAULT]
timeout = 30

[server]
host = example.org
port = 8080
debug = yes
tags = web, api,
    internal

[client]
retries = 3
ratio = 0.75
"""


@pytest.fixture
def cfg():
    return Config.from_string(TEXT)


def test_sections_exclude_default(cfg):
    assert cfg.sections() == ["server", "client"]
    assert "server" in cfg and "DEFAULT" not in cfg


def test_get_and_defaults(cfg):
    assert cfg.get("server", "host") == "example.org"
    assert cfg.get("client", "timeout") == "30"
    assert cfg.get("client", "missing", fallback=None) is None


def test_missing_option_and_section(cfg):
    with pytest.raises(MissingOptionError):
        cfg.get("server", "nope")
    with pytest.raises(MissingSectionError):
        cfg.get("nope", "host")


def test_typed_getters(cfg):
    assert cfg.getint("server", "port") == 8080
    assert cfg.getfloat("client", "ratio") == 0.75
    assert cfg.getboolean("server", "debug") is True
    assert cfg.getlist("server", "tags") == ["web", "api", "internal"]
    assert cfg.getint("client", "absent", fallback=7) == 7


def test_bad_boolean(cfg):
    with pytest.raises(ConfigError):
        cfg.getboolean("server", "host")


def test_options_lists_defaults_last(cfg):
    assert cfg.options("client") == ["retries", "ratio", "timeout"]


def test_has_option(cfg):
    assert cfg.has_option("server", "host")
    assert cfg.has_option("server", "timeout")
    assert not cfg.has_option("server", "retries")
    assert not cfg.has_option("nope", "host")


def test_set_and_section_view(cfg):
    cfg.set("client", "retries", "5")
    section = cfg["client"]
    assert section["retries"] == "5"
    assert "ratio" in section
    assert section.get("absent") is None
    with pytest.raises(TypeError):
        cfg.set("client", "retries", 5)


def test_add_section(cfg):
    cfg.add_section("extra")
    cfg.set("extra", "k", "v")
    assert cfg.get("extra", "k") == "v"
    with pytest.raises(ConfigError):
        cfg.add_section("extra")


def test_from_file(tmp_path):
    path = tmp_path / "app.ini"
    path.write_text("[app]\nname = demo\n", encoding="utf-8")
    assert Config.from_file(str(path)).get("app", "name") == "demo"
