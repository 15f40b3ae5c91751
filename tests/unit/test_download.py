"""Downloads: mirrors tried in order, checksums enforced, atomic writes, no real network.

Mirrors are a local HTTP server on 127.0.0.1 and ``file://`` URLs; the dataset spec carries the
checksums of small synthetic files built here.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import http.server
import threading
from pathlib import Path

import numpy as np
import pytest

from tomoprune.cli import main
from tomoprune.data.catalog import MNIST, IdxDatasetSpec, idx_spec
from tomoprune.data.checksums import check_file, verify_idx_dataset
from tomoprune.data.datasets import load_dataset
from tomoprune.data.download import download_dataset, download_idx_files
from tomoprune.data.locate import default_download_dir
from tomoprune.errors import ConfigError, DataError


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep test output clean
        pass


@pytest.fixture(scope="module")
def mirror_root(tmp_path_factory) -> Path:
    """good/: the dataset as published; bad/: same names, different bytes."""
    root = tmp_path_factory.mktemp("mirrors")
    rng = np.random.default_rng(1)
    for sub, shift in (("good", 0), ("bad", 1)):
        (root / sub).mkdir()
        for prefix, n in (("train", 30), ("t10k", 10)):
            labels = ((np.arange(n) + shift) % 10).astype(np.uint8)
            images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
            for kind, array in (("images-idx3", images), ("labels-idx1", labels)):
                header = bytes([0, 0, 8, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
                data = gzip.compress(header + array.tobytes(), mtime=0)
                (root / sub / f"{prefix}-{kind}-ubyte.gz").write_bytes(data)
    return root


@pytest.fixture(scope="module")
def spec(mirror_root) -> IdxDatasetSpec:
    """MNIST's spec with the checksums of the files in good/."""
    files = []
    for file in MNIST.files:
        data = (mirror_root / "good" / file.archive_name).read_bytes()
        files.append(
            dataclasses.replace(
                file,
                md5=hashlib.md5(data).hexdigest(),
                sha256=hashlib.sha256(data).hexdigest(),
                raw_md5=hashlib.md5(gzip.decompress(data)).hexdigest(),
            )
        )
    return dataclasses.replace(MNIST, files=tuple(files), mirrors=())


@pytest.fixture(scope="module")
def server(mirror_root):
    handler = functools.partial(QuietHandler, directory=str(mirror_root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("TOMOPRUNE_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


def same_files(a: Path, b: Path) -> bool:
    names = sorted(p.name for p in a.iterdir())
    return names == sorted(p.name for p in b.iterdir()) and all(
        (a / n).read_bytes() == (b / n).read_bytes() for n in names
    )


def test_downloads_from_http_mirror_and_loads(spec, server, mirror_root, tmp_path):
    dest = download_idx_files(spec, tmp_path / "dest", mirrors=[f"{server}/good/"])
    assert same_files(dest, mirror_root / "good")
    assert len(load_dataset("mnist", dest).train_y) == 30


def test_failed_mirror_is_skipped(spec, server, mirror_root, tmp_path):
    mirrors = ["http://127.0.0.1:1/", f"{server}/missing", (mirror_root / "good").as_uri()]
    dest = download_idx_files(spec, tmp_path / "dest", mirrors=mirrors)
    assert same_files(dest, mirror_root / "good")


def test_wrong_checksum_is_rejected_and_next_mirror_used(spec, server, mirror_root, tmp_path):
    dest = download_idx_files(
        spec, tmp_path / "dest", mirrors=[f"{server}/bad/", f"{server}/good/"]
    )
    assert same_files(dest, mirror_root / "good")


def test_all_mirrors_failing_is_one_line_naming_mirrors_places_and_fix(spec, server, tmp_path):
    dest = tmp_path / "dest"
    with pytest.raises(DataError) as exc:
        download_idx_files(spec, dest, mirrors=[f"{server}/bad/", f"{server}/missing/"])
    message = str(exc.value)
    assert "\n" not in message
    assert "checksum mismatch" in message and "HTTP 404" in message
    for place in (f"download folder {dest}", "$TOMOPRUNE_DATA (not set)", "cache "):
        assert place in message
    assert "--data-dir DIR" in message
    assert list(dest.iterdir()) == []  # no partial or wrong file left behind


def test_files_already_present_and_valid_are_not_fetched(spec, mirror_root, tmp_path):
    dest = tmp_path / "dest"
    dest.mkdir()
    for path in (mirror_root / "good").iterdir():
        (dest / path.name).write_bytes(path.read_bytes())
    assert download_idx_files(spec, dest, mirrors=["http://127.0.0.1:1/"]) == dest


def test_a_damaged_local_copy_is_replaced(spec, mirror_root, tmp_path):
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "train-images-idx3-ubyte.gz").write_bytes(b"half a file")
    download_idx_files(spec, dest, mirrors=[(mirror_root / "good").as_uri()])
    assert same_files(dest, mirror_root / "good")


def test_default_destination_is_the_searched_cache(mirror_root, tmp_path, monkeypatch):
    cache = tmp_path / "xdg-cache" / "tomoprune"
    assert default_download_dir("mnist") == cache / "mnist"
    monkeypatch.setenv("TOMOPRUNE_DATA", str(tmp_path / "data"))
    assert default_download_dir("mnist") == tmp_path / "data" / "mnist"
    # the bad/ files lack MNIST's real checksums: the attempt fails and names the places
    with pytest.raises(DataError) as exc:
        download_dataset("mnist", mirrors=[(mirror_root / "bad").as_uri()])
    message = str(exc.value)
    assert f"$TOMOPRUNE_DATA {tmp_path / 'data'}[/mnist]" in message
    assert f"cache {cache}[/mnist]" in message and "download folder" not in message


def test_unknown_dataset_cannot_be_downloaded(tmp_path):
    with pytest.raises(ConfigError, match="fashion-mnist, mnist"):
        download_dataset("digits", tmp_path)


def test_checksums_accept_published_archive_or_published_content(spec, mirror_root, tmp_path):
    file = spec.file("train_labels")
    published = mirror_root / "good" / file.archive_name
    assert check_file(file, published).status == "archive"
    recompressed = tmp_path / file.archive_name
    recompressed.write_bytes(gzip.compress(gzip.decompress(published.read_bytes()), mtime=1))
    assert check_file(file, recompressed).status == "content"
    raw = tmp_path / file.stem
    raw.write_bytes(gzip.decompress(published.read_bytes()))
    assert check_file(file, raw).status == "content"
    other = mirror_root / "bad" / file.archive_name
    assert check_file(file, other).status == "mismatch"


def test_verify_reports_counts_and_mismatches(spec, mirror_root):
    report = verify_idx_dataset(spec, mirror_root / "good")
    assert report.ok and report.counts == {"train": 30, "test": 10}
    assert not verify_idx_dataset(spec, mirror_root / "bad").ok


def test_cli_download_then_verify(mirror_root, tmp_path, capsys):
    # the synthetic files pass validation but not MNIST's real checksums
    code = main(
        [
            "data",
            "download",
            "mnist",
            "--dest",
            str(tmp_path / "d"),
            "--mirror",
            (mirror_root / "good").as_uri(),
        ]
    )
    assert code == 3
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "checksum mismatch" in err
    code = main(["data", "verify", "mnist", "--data-dir", str(mirror_root / "good")])
    captured = capsys.readouterr()
    assert code == 3 and "differ from the published originals" in captured.err


def test_cli_info_shows_place_counts_and_histogram(tiny_idx_dir, capsys):
    assert main(["data", "info", "mnist", "--data-dir", str(tiny_idx_dir)]) == 0
    out = capsys.readouterr().out
    assert str(tiny_idx_dir) in out and "(600, 1, 28, 28)" in out and "(200, 1, 28, 28)" in out
    assert "60 " in out  # 60 training images per class


def test_spec_lookup_by_name():
    assert idx_spec("mnist") is MNIST
