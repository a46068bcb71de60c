"""params.yaml is read through one schema: every mistake is named by its dotted key."""
import pytest
import yaml

from selfsynth.core.params import ParamsError, load_params, parse_params
from tests.conftest import REPO


def repo_params() -> dict:
    return yaml.safe_load((REPO / "params.yaml").read_text())


def test_the_repo_params_load():
    p = load_params(REPO / "params.yaml")
    assert p.dataset.name == "aviary"
    assert p.world.counts.n_genera >= 1


def test_an_unknown_key_is_rejected_by_name():
    raw = repo_params()
    raw["world"]["colour_scheme"] = "dark"
    with pytest.raises(ParamsError, match=r"world\.colour_scheme: unknown key"):
        parse_params(raw)


def test_a_missing_key_is_rejected_by_name():
    raw = repo_params()
    del raw["base"]["train"]["lr"]
    with pytest.raises(ParamsError, match=r"base\.train\.lr: missing key"):
        parse_params(raw)


def test_a_bad_value_is_rejected_by_name():
    raw = repo_params()
    raw["world"]["hide_prob"] = 1.5
    with pytest.raises(ParamsError, match=r"world\.hide_prob"):
        parse_params(raw)
    raw = repo_params()
    raw["world"]["size"] = "huge"
    with pytest.raises(ParamsError, match=r"world\.size"):
        parse_params(raw)


def test_a_missing_or_broken_file_is_named(tmp_path):
    with pytest.raises(ParamsError, match="no such params file"):
        load_params(tmp_path / "params.yaml")
    (tmp_path / "params.yaml").write_text("world: [unclosed")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(tmp_path / "params.yaml")
