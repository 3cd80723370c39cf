import pytest

from w2s.cli import main
from w2s.errors import W2SError
from w2s.models import resolve_model
from w2s.models.packs import PACKS, find_pack


def test_unreachable_hub_is_one_clear_error():
    with pytest.raises(W2SError, match="could not load 'nobody/no-such-model' from the Hugging Face hub.*offline pack"):
        resolve_model("nobody/no-such-model")


def test_unknown_name_lists_the_packs():
    with pytest.raises(W2SError, match="unknown model 'gpt-17'.*smollm2-135m-instruct"):
        resolve_model("gpt-17")


def test_folder_without_config_is_rejected(tmp_path):
    with pytest.raises(W2SError, match="not a model folder"):
        resolve_model(str(tmp_path))


def test_alias_points_at_the_real_weights():
    pack = find_pack("Qwen2.5-0.5B-Instruct")
    assert pack is PACKS["qwen2.5-coder-0.5b-instruct"] and "Coder" in pack.model


def test_models_command_lists_every_pack(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in PACKS) and "alias" in out
