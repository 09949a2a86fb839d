"""Publishing and fetching the zoo with the real huggingface_hub client and a local Hub."""

import itertools
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import time

import httpx2
import numpy as np
import pytest
from huggingface_hub import CommitOperationAdd, HfApi, ModelCard

import zoo
from tests.conftest import READER, ROOT, WRITER
from zoo import hub as zhub
from zoo.artifacts import ArtifactError, save_variant
from zoo.card import build_card
from zoo.manifest import MAX_MANIFEST_BYTES, ManifestError, read_manifest, write_manifest

NAMES = ["mlp-h32-float32", "mlp-h32-int8", "mlp-h32-int4"]
NAMES_SORTED = sorted(NAMES)


def make_zoo(folder, seed_shift=0):
    """A small zoo (random weights) with a manifest like train.py's."""
    manifest = {"format_version": 1, "dataset": {"name": "MNIST", "test_images": 10000},
                "variants": {}}
    for name in NAMES:
        v = zoo.get_variant(name)
        model = v.architecture.init()
        model.layers[0].W += seed_shift
        files = save_variant(folder, v, model)
        manifest["variants"][name] = {
            **{k: x for k, x in v.describe().items() if k != "description"},
            "files": files, "bytes": sum(f["bytes"] for f in files.values()),
            "test_correct": 9000 + len(name), "test_accuracy": (9000 + len(name)) / 10000,
            "delta_to_parent": 0.0}
    write_manifest(folder, manifest)
    return manifest


def head(repo_id, revision="main"):
    return HfApi(token=WRITER).model_info(repo_id, revision=revision).sha


def test_push_then_load_in_a_fresh_cache_is_byte_identical(hub, tmp_path):
    local = tmp_path / "models"
    make_zoo(local)
    result = zhub.push(local, "tester/zoo", token=WRITER)
    assert result.changed and len(result.commit) == 40
    files = HfApi(token=WRITER).list_repo_files("tester/zoo")
    assert {"manifest.json", "README.md", "variants/mlp-h32-int4/model.safetensors"} <= set(files)
    assert len(hub.repos["tester/zoo"].history()) == 2  # the repo's first commit + ours
    remote = zhub.open_repo("tester/zoo", cache_dir=tmp_path / "cache")
    assert remote.revision == result.commit and not remote.offline
    assert remote.names == NAMES_SORTED and remote.label == f"Hub tester/zoo@{result.commit[:12]}"
    x = np.random.default_rng(0).random((5, 784))
    for name, e in remote.manifest["variants"].items():
        for rel, info in e["files"].items():
            assert remote.fetch_verified(rel, info) == (local / rel).read_bytes()
        assert np.array_equal(zoo.load(name, repo="tester/zoo", cache_dir=tmp_path / "c2")
                              .predict_proba(x), zoo.load(name, models_dir=local)
                              .predict_proba(x))


def asked(hub) -> set[str]:
    """The repo paths whose contents were asked for (GET, or HEAD answered by a redirect)."""
    return {p.split("/resolve/", 1)[1].split("/", 1)[1] for m, p in hub.requests
            if "/resolve/" in p and (m == "GET" or p.endswith(".safetensors"))}


def test_only_the_asked_variant_is_downloaded(hub, tmp_path):
    manifest = make_zoo(tmp_path / "models")
    zhub.push(tmp_path / "models", "tester/zoo", token=WRITER)
    hub.requests.clear()
    hub.storage_requests.clear()
    zoo.load("mlp-h32-int8", repo="tester/zoo", cache_dir=tmp_path / "cache")
    assert asked(hub) == {"manifest.json", "variants/mlp-h32-int8/model.safetensors",
                          "variants/mlp-h32-int8/config.json"}
    oid = manifest["variants"]["mlp-h32-int8"]["files"][
        "variants/mlp-h32-int8/model.safetensors"]["sha256"]
    assert [(m, p.split("?")[0]) for m, p, _ in hub.storage_requests] == [("GET", f"/lfs/{oid}")]


def test_binary_files_take_the_lfs_path_both_ways(hub, tmp_path):
    """As on the real Hub: safetensors go through the LFS batch API, are committed as
    lfsFile lines, stored as pointers, and come back through a redirect to storage."""
    manifest = make_zoo(tmp_path / "models")
    zhub.push(tmp_path / "models", "tester/zoo", token=WRITER)
    weights = {rel: info for e in manifest["variants"].values()
               for rel, info in e["files"].items() if rel.endswith(".safetensors")}
    lfs_lines = {line["value"]["path"]: line["value"] for line in hub.commit_lines
                 if line["key"] == "lfsFile"}
    inline = {line["value"]["path"] for line in hub.commit_lines if line["key"] == "file"}
    assert set(lfs_lines) == set(weights)
    assert all(lfs_lines[p]["oid"] == w["sha256"] and lfs_lines[p]["size"] == w["bytes"]
               for p, w in weights.items())
    assert "manifest.json" in inline and not inline & set(weights)
    assert {w["sha256"] for w in weights.values()} <= set(hub.lfs)  # uploaded and verified
    puts = [(p, auth) for m, p, auth in hub.storage_requests if m == "PUT"]
    assert len(puts) == len(weights) and not any(auth for _, auth in puts)
    assert any(p.endswith("/objects/verify") for _, p in hub.requests)
    head = hub.repos["tester/zoo"].head()
    assert all(head.files[p].lfs and head.files[p].git.startswith(b"version https://git-lfs")
               for p in weights)
    tree = {f.path: f for f in HfApi(token=WRITER).list_repo_tree("tester/zoo", recursive=True)}
    assert all(tree[p].lfs and tree[p].lfs.sha256 == w["sha256"] for p, w in weights.items())

    hub.storage_requests.clear()
    name = "mlp-h32-int4"
    model = zoo.load(name, repo="tester/zoo", token=WRITER, cache_dir=tmp_path / "cache")
    gets = [auth for m, p, auth in hub.storage_requests if m == "GET"]
    assert gets == [False]  # redirect followed; the token stayed on the Hub
    x = np.random.default_rng(0).random((3, 784))
    assert np.array_equal(model.predict_proba(x),
                          zoo.load(name, models_dir=tmp_path / "models").predict_proba(x))

    hub.storage_requests.clear()
    again = zhub.push(tmp_path / "models", "tester/zoo", token=WRITER)
    assert not again.changed and hub.storage_requests == []  # nothing re-uploaded


def test_preupload_decides_as_the_hub_does(hub, tmp_path):
    """LFS for a path .gitattributes tracks (whatever its bytes), for a binary sample, and
    for a large file; a regular inline blob otherwise."""
    api = HfApi(token=WRITER)
    api.create_repo("tester/modes")
    files = {"text.safetensors": b"not binary at all", "blob.dat": b"ab\0cd",
             "notes.txt": b"plain text", "big.txt": b"x" * (10 * 1024 * 1024 + 1)}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    api.upload_folder(repo_id="tester/modes", folder_path=tmp_path, commit_message="modes")
    head = hub.repos["tester/modes"].head()
    assert {p: head.files[p].lfs for p in files} == {
        "text.safetensors": True, "blob.dat": True, "notes.txt": False, "big.txt": True}
    assert all(head.files[p].data == d for p, d in files.items())


def test_binary_file_sent_inline_is_refused_as_on_the_hub(hub, tmp_path):
    from huggingface_hub.errors import HfHubHTTPError

    HfApi(token=WRITER).create_repo("tester/raw")
    (tmp_path / "w.bin").write_bytes(b"\0" * 100)
    op = CommitOperationAdd("w.bin", str(tmp_path / "w.bin"))
    op._upload_mode = "regular"  # what a client that skipped /preupload would send
    with pytest.raises(HfHubHTTPError, match="binary files"):
        HfApi(token=WRITER).create_commit("tester/raw", [op], commit_message="raw")


def test_model_card_carries_the_metrics(hub, tmp_path):
    from huggingface_hub import hf_hub_download, metadata_load
    from huggingface_hub.repocard_data import model_index_to_eval_results

    manifest = make_zoo(tmp_path / "models")
    zhub.push(tmp_path / "models", "tester/zoo", token=WRITER)
    card = ModelCard.load("tester/zoo", token=WRITER)  # the client's own parser
    results = {r.metric_name: r.metric_value for r in card.data.eval_results}
    assert results == {f"{n} accuracy": e["test_accuracy"]
                       for n, e in manifest["variants"].items()}
    assert {r.metric_config for r in card.data.eval_results} == set(manifest["variants"])
    assert card.data.library_name == "digit-zoo" and card.data.datasets == ["ylecun/mnist"]
    assert {"quantization", "float32", "int8", "int4"} <= set(card.data.tags)
    assert "float64" not in card.data.tags  # a tag per precision the zoo holds, no more
    assert "mlp-h32-int4` *(experimental)*" in card.text and "zoo.load(" in card.text
    assert "multi-layer perceptron" not in card.text.lower()
    meta = metadata_load(hf_hub_download("tester/zoo", "README.md", cache_dir=tmp_path / "c"))
    name, parsed = model_index_to_eval_results(meta["model-index"])
    assert name == "digit-zoo" and len(parsed) == len(manifest["variants"])
    assert {r.dataset_type for r in parsed} == {"ylecun/mnist"}


def test_the_card_says_which_architectures_learnt_drawings_and_how(tmp_path):
    manifest = make_zoo(tmp_path / "models")
    assert "joined the training" not in build_card(manifest, "tester/zoo").text  # MNIST alone
    ways = ({"from_start": True, "train_images": 75000},
            {"recipe": {"epochs": 2}, "train_images": 75000, "train_seconds": 9.0})
    for e, stage in zip(manifest["variants"].values(), itertools.cycle(ways)):
        e["train_images"], e["drawings"] = 55000, stage
    text = build_card(manifest, "tester/zoo").text
    assert "with 20,000 drawn digits in every epoch." in text
    assert "then fine-tuned on those and 20,000 drawn digits." in text
    assert "trained once in float32 on 55,000 of the 60,000" in text
    for e in manifest["variants"].values():  # a smoke run's zoo says how few it saw
        e["train_images"], e["drawings"] = 6000, None
    text = build_card(manifest, "tester/zoo").text
    assert "on 6,000 of the 60,000" in text and "joined the training" not in text


def test_unchanged_push_makes_no_commit(hub, tmp_path):
    make_zoo(tmp_path / "models")
    first = zhub.push(tmp_path / "models", "tester/zoo", token=WRITER)
    again = zhub.push(tmp_path / "models", "tester/zoo", token=WRITER)
    assert not again.changed and again.commit == first.commit
    assert len(hub.repos["tester/zoo"].history()) == 2


def test_new_revision_keeps_the_old_one_loadable(hub, tmp_path):
    old, new = tmp_path / "old", tmp_path / "new"
    make_zoo(old)
    make_zoo(new, seed_shift=1)
    first = zhub.push(old, "tester/zoo", token=WRITER)
    shutil.rmtree(new / "variants/mlp-h32-int4")  # a variant dropped from the zoo
    m = read_manifest(new)
    del m["variants"]["mlp-h32-int4"]
    write_manifest(new, m)
    second = zhub.push(new, "tester/zoo", token=WRITER, commit_message="retrained")
    assert second.changed and second.commit != first.commit
    assert "variants/mlp-h32-int4/config.json" not in HfApi().list_repo_files("tester/zoo")
    x = np.random.default_rng(1).random((3, 784))
    cache = tmp_path / "cache"
    pinned = zoo.load("mlp-h32-int8", repo="tester/zoo", revision=first.commit, cache_dir=cache)
    latest = zoo.load("mlp-h32-int8", repo="tester/zoo", cache_dir=cache)
    assert np.array_equal(pinned.predict_proba(x),
                          zoo.load("mlp-h32-int8", models_dir=old).predict_proba(x))
    assert np.array_equal(latest.predict_proba(x),
                          zoo.load("mlp-h32-int8", models_dir=new).predict_proba(x))
    assert zoo.load("mlp-h32-int4", repo="tester/zoo", revision=first.commit, cache_dir=cache)
    with pytest.raises(zhub.VariantNotFoundError, match="no variant 'mlp-h32-int4'"):
        zoo.load("mlp-h32-int4", repo="tester/zoo", cache_dir=cache)


def test_branch_push_and_load(hub, tmp_path):
    make_zoo(tmp_path / "models")
    zhub.push(tmp_path / "models", "tester/zoo", token=WRITER)
    make_zoo(tmp_path / "exp", seed_shift=2)
    result = zhub.push(tmp_path / "exp", "tester/zoo", token=WRITER, revision="experiment")
    assert head("tester/zoo", "experiment") == result.commit != head("tester/zoo")
    remote = zhub.open_repo("tester/zoo", "experiment", cache_dir=tmp_path / "cache")
    assert remote.revision == result.commit


def test_offline_uses_the_cache_and_says_so(hub, tmp_path, caplog):
    make_zoo(tmp_path / "models")
    zhub.push(tmp_path / "models", "tester/zoo", token=WRITER)
    cache = tmp_path / "cache"
    online = zoo.load("mlp-h32-int8", repo="tester/zoo", cache_dir=cache)
    hub.stop()
    with caplog.at_level(logging.WARNING, logger="digit_zoo.hub"):
        offline = zoo.load("mlp-h32-int8", repo="tester/zoo", cache_dir=cache)
    assert "using the cached copy of tester/zoo@main" in caplog.text
    x = np.random.default_rng(2).random((3, 784))
    assert np.array_equal(online.predict_proba(x), offline.predict_proba(x))
    with pytest.raises(zhub.HubUnreachableError, match=r"tester/zoo.*not cached"):
        zoo.load("mlp-h32-int4", repo="tester/zoo", cache_dir=cache)
    with pytest.raises(zhub.HubUnreachableError, match="nobody/zoo"):
        zoo.load("mlp-h32-int8", repo="nobody/zoo", cache_dir=cache)


def test_hf_hub_offline_env_uses_the_cache(hub, tmp_path):
    make_zoo(tmp_path / "models")
    zhub.push(tmp_path / "models", "tester/zoo", token=WRITER)
    cache = tmp_path / "cache"
    zoo.load("mlp-h32-int8", repo="tester/zoo", cache_dir=cache)
    code = (f"import zoo; m = zoo.load('mlp-h32-int8', repo='tester/zoo', "
            f"cache_dir={str(cache)!r}); print(m.sizes)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[784, 32, 10]" and "cached copy" in out.stderr


def test_tampered_file_is_refused_and_not_cached(hub, tmp_path):
    make_zoo(tmp_path / "models")
    zhub.push(tmp_path / "models", "tester/zoo", token=WRITER)
    path = "variants/mlp-h32-int8/model.safetensors"
    data = bytearray((tmp_path / "models" / path).read_bytes())
    data[-3] ^= 0x55
    hub.tamper("tester/zoo", path, bytes(data))
    cache = tmp_path / "cache"
    with pytest.raises(ArtifactError, match=r"does not match the manifest.*removed from cache"):
        zoo.load("mlp-h32-int8", repo="tester/zoo", cache_dir=cache)
    cached = [p for p in cache.rglob("*") if p.is_file() or p.is_symlink()]
    assert not [p for p in cached if "mlp-h32-int8" in str(p) and p.name.endswith("tensors")]
    assert all(bytes(data) != p.read_bytes() for p in cached if p.exists())
    assert zoo.load("mlp-h32-int4", repo="tester/zoo", cache_dir=cache)  # others still load


def test_distinct_errors(hub, tmp_path):
    make_zoo(tmp_path / "models")
    zhub.push(tmp_path / "models", "tester/secret", token=WRITER, private=True)
    cache = tmp_path / "cache"
    with pytest.raises(zhub.HubAuthError, match="rejected"):
        zoo.load("mlp-h32-int8", repo="tester/secret", token="hf_wrong", cache_dir=cache)
    with pytest.raises(zhub.HubNotFoundError, match="private"):
        zoo.load("mlp-h32-int8", repo="tester/secret", cache_dir=cache)
    with pytest.raises(zhub.HubNotFoundError, match="private"):
        zoo.load("mlp-h32-int8", repo="tester/secret", token=READER, cache_dir=cache)
    assert zoo.load("mlp-h32-int8", repo="tester/secret", token=WRITER, cache_dir=cache)
    with pytest.raises(zhub.HubNotFoundError, match="repository tester/missing not found"):
        zoo.load("mlp-h32-int8", repo="tester/missing", cache_dir=cache)
    with pytest.raises(zhub.HubNotFoundError, match="no revision 'v9'"):
        zoo.load("mlp-h32-int8", repo="tester/secret", revision="v9", token=WRITER,
                 cache_dir=cache)
    with pytest.raises(zhub.VariantNotFoundError, match="mlp-h64-int8"):
        zoo.load("mlp-h64-int8", repo="tester/secret", token=WRITER, cache_dir=cache)


def test_push_errors(hub, tmp_path, monkeypatch):
    make_zoo(tmp_path / "models")
    with pytest.raises(zhub.HubAuthError, match="no Hugging Face token"):
        zhub.push(tmp_path / "models", "tester/zoo")
    with pytest.raises(zhub.HubAuthError, match="rejected"):
        zhub.push(tmp_path / "models", "tester/zoo", token="hf_wrong")
    with pytest.raises(zhub.HubAuthError, match="403"):
        zhub.push(tmp_path / "models", "other/zoo", token=WRITER)
    (tmp_path / "models/variants/mlp-h32-int8/config.json").unlink()
    with pytest.raises(ManifestError, match=r"(?s)not complete.*int8/config.json is missing"):
        zhub.push(tmp_path / "models", "tester/zoo", token=WRITER)
    assert "tester/zoo" not in hub.repos  # refused before anything was sent
    hub.stop()
    make_zoo(tmp_path / "m2")
    with pytest.raises(zhub.HubUnreachableError):
        zhub.push(tmp_path / "m2", "tester/zoo", token=WRITER)


def run_train(*args, env=None):
    return subprocess.run([sys.executable, "train.py", *args], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=300)


def test_train_push_only_cli(hub, tmp_path):
    make_zoo(tmp_path / "models")
    common = ["--push-only", "--out", str(tmp_path / "models")]
    out = run_train(*common, "--repo", "tester/cli", env={"HF_TOKEN": WRITER})
    assert out.returncode == 0, out.stderr
    assert "published" in out.stdout and WRITER not in out.stdout + out.stderr
    out = run_train(*common, env={"HF_TOKEN": WRITER, "ZOO_REPO": "tester/cli"})
    assert out.returncode == 0 and "nothing to publish" in out.stdout
    out = run_train(*common, "--repo", "tester/cli", env={"HF_TOKEN": "hf_wrong_secret"})
    assert out.returncode == 1 and "rejected" in out.stderr and "Traceback" not in out.stderr
    assert "hf_wrong_secret" not in out.stdout + out.stderr
    out = run_train(*common, "--repo", "tester/cli")
    assert out.returncode == 1 and "no Hugging Face token" in out.stderr
    out = run_train("--push-only")
    assert out.returncode == 2 and "--push needs --repo" in out.stderr
    info = json.loads(json.dumps(HfApi().list_repo_files("tester/cli")))
    assert "manifest.json" in info


def publish_manifest(repo_id, data: bytes):
    """Replace the repo's manifest.json, as a broken or hostile publisher could."""
    HfApi(token=WRITER).upload_file(path_or_fileobj=data, path_in_repo="manifest.json",
                                    repo_id=repo_id, commit_message="edit manifest")


def test_a_size_the_hub_disagrees_with_is_refused_before_download(hub, tmp_path):
    manifest = make_zoo(tmp_path / "models")
    zhub.push(tmp_path / "models", "tester/zoo", token=WRITER)
    rel = "variants/mlp-h32-int8/model.safetensors"
    manifest["variants"]["mlp-h32-int8"]["files"][rel]["bytes"] -= 1000
    publish_manifest("tester/zoo", json.dumps(manifest).encode())
    hub.storage_requests.clear()
    with pytest.raises(ArtifactError, match=r"is \d+ bytes but the manifest says.*not downloaded"):
        zoo.load("mlp-h32-int8", repo="tester/zoo", cache_dir=tmp_path / "cache")
    assert hub.storage_requests == []  # not a byte of the body was fetched
    assert not [p for p in (tmp_path / "cache").rglob("*.safetensors")]
    assert zoo.load("mlp-h32-int4", repo="tester/zoo", cache_dir=tmp_path / "cache")


NOT_A_MANIFEST = {
    "empty zoo": lambda m: m.update(variants={}),
    "not an object": lambda m: m.clear(),
    "no valid entry": lambda m: m.update(variants={n: n for n in m["variants"]}),
}
BAD_ENTRIES = {  # case -> (change, the variant it breaks)
    "missing field": (lambda m: m["variants"]["mlp-h32-int8"].pop("test_accuracy"),
                      "mlp-h32-int8"),
    "wrong type": (lambda m: m["variants"]["mlp-h32-int8"].update(params="25450"),
                   "mlp-h32-int8"),
    "string entry": (lambda m: m["variants"].update({"mlp-h32-int8": "mlp-h32-int8"}),
                     "mlp-h32-int8"),
    "bad hash": (lambda m: next(iter(m["variants"]["mlp-h32-int4"]["files"].values()))
                 .update(sha256="ABC"), "mlp-h32-int4"),
    "escaping path": (lambda m: m["variants"]["mlp-h32-int4"].update(
        files={"../../etc/passwd": {"bytes": 1, "sha256": "0" * 64}}), "mlp-h32-int4"),
    "no files": (lambda m: m["variants"]["mlp-h32-int4"].pop("files"), "mlp-h32-int4"),
    "escaping name": (lambda m: m["variants"].update(
        {"../../x": {**m["variants"]["mlp-h32-int4"], "name": "../../x"}}), "../../x"),
}


def publish_broken(tmp_path, case, change):
    # A repo of its own: the Predictor reads through the session's shared HF cache, which
    # must not hold a good manifest under a name another test serves from a stopped Hub.
    repo = f"tester/bad-{case.replace(' ', '-')}"
    manifest = make_zoo(tmp_path / "models")
    zhub.push(tmp_path / "models", repo, token=WRITER)
    change(manifest)
    publish_manifest(repo, json.dumps(manifest or []).encode())
    return repo


@pytest.mark.parametrize("case", NOT_A_MANIFEST)
def test_a_remote_manifest_that_is_not_a_zoo_falls_back_to_the_shipped_zoo(hub, tmp_path,
                                                                           case):
    from tests.test_app import SEVEN
    from webapp.predictor import Predictor

    repo = publish_broken(tmp_path, case, NOT_A_MANIFEST[case])
    with pytest.raises(ManifestError, match=rf"{repo}@[0-9a-f]{{40}}/manifest.json"):
        zhub.open_repo(repo, cache_dir=tmp_path / "cache")
    p = Predictor(repo=repo)
    assert "Could not open the Hub zoo" in p.notice and "showing the shipped zoo" in p.notice
    assert p.source == "the shipped zoo (models/)"
    assert p.predict(SEVEN, ["mlp-h64-int8"]).probabilities["mlp-h64-int8"]


@pytest.mark.parametrize("case", BAD_ENTRIES)
def test_an_invalid_remote_entry_makes_that_variant_unavailable(hub, tmp_path, case):
    """One bad entry costs that variant, with its reason; the Hub zoo serves the others."""
    from tests.test_app import SEVEN
    from webapp.predictor import Predictor

    change, bad = BAD_ENTRIES[case]
    repo = publish_broken(tmp_path, case, change)
    remote = zhub.open_repo(repo, cache_dir=tmp_path / "cache")
    assert bad not in remote.names and bad in remote.problems
    assert re.match(rf"{repo}@[0-9a-f]{{40}}/manifest.json: variant", remote.problems[bad])
    with pytest.raises(ManifestError, match=re.escape(bad)):
        remote.load(bad)
    good = "mlp-h32-float32"
    assert remote.load(good).name == good
    p = Predictor(repo=repo)
    assert p.source.startswith(f"Hub {repo}@") and "left out" in p.notice
    assert bad not in [e["name"] for e in p.entries]
    r = p.predict(SEVEN, [good, bad])
    assert r.status == "ok" and r.probabilities[good] and set(r.errors) == {bad}
    assert r.errors[bad] == remote.problems[bad]
    assert not any("etc/passwd" in path or "/x/" in path for _, path in hub.requests)


def test_the_token_never_shows(hub, tmp_path, caplog):
    make_zoo(tmp_path / "models")
    zhub.push(tmp_path / "models", "tester/secret", token=WRITER, private=True)
    with caplog.at_level(logging.DEBUG):
        remote = zhub.open_repo("tester/secret", token=WRITER, cache_dir=tmp_path / "cache")
        remote.load("mlp-h32-int8")
        with pytest.raises(zhub.HubAuthError) as bad:
            zhub.open_repo("tester/secret", token="hf_wrong_secret", cache_dir=tmp_path / "c")
    assert remote.token == WRITER
    for text in (repr(remote), str(remote), caplog.text, str(bad.value)):
        assert WRITER not in text and "hf_wrong_secret" not in text


def test_a_failing_xet_token_endpoint_is_named(hub, tmp_path, monkeypatch):
    """With hf_xet installed (as on a Space), binaries go through Xet; a Hub that answers
    but gives no Xet token is a different problem from one that cannot be reached."""
    from huggingface_hub import constants

    make_zoo(tmp_path / "models")
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", False)
    with pytest.raises(zhub.HubError, match=r"Xet token endpoint failed \(501\).*"
                                            r"HF_HUB_DISABLE_XET=1") as e:
        zhub.push(tmp_path / "models", "tester/zoo", token=WRITER)
    assert not isinstance(e.value, zhub.HubUnreachableError)
    assert "cannot reach" not in str(e.value)
    assert any("/xet-write-token/" in p for _, p in hub.requests)


SILENT_HUB = """
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(16)
print(s.getsockname()[1], flush=True)
conns = []
while True:  # accept, read nothing, answer nothing: a Hub that hangs
    conns.append(s.accept()[0])
"""


def test_app_start_does_not_hang_on_a_silent_hub(tmp_path):
    silent = subprocess.Popen([sys.executable, "-c", SILENT_HUB], stdout=subprocess.PIPE,
                              text=True)
    try:
        port = silent.stdout.readline().strip()
        code = ("from webapp.predictor import Predictor; p = Predictor(repo='tester/zoo'); "
                "print(p.source); print(p.notice)")
        env = {**os.environ, "HF_ENDPOINT": f"http://127.0.0.1:{port}", "ZOO_HUB_TIMEOUT": "1",
               "HF_HOME": str(tmp_path / "hf")}
        # The subprocess timeout only guards the test run; without the zoo's own timeouts
        # the start would wait on the silent Hub for ever and this would fail.
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                             text=True, env=env, timeout=120)
    finally:
        silent.kill()
        silent.wait()
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("the shipped zoo (models/)")
    assert "Could not open the Hub zoo" in out.stdout


TRICKLE_HUB = """
import socket, sys, threading, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(16)
print(s.getsockname()[1], flush=True)
def trickle(conn):  # an answer a byte every 0.3 s: no single read ever waits long
    for byte in b"HTTP/1.1 200 OK\\r\\nX-Slow: " + b"x" * 1000:
        conn.sendall(bytes([byte]))
        time.sleep(0.3)
while True:
    threading.Thread(target=trickle, args=(s.accept()[0],), daemon=True).start()
"""


def serve_script(script):
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    return proc, int(proc.stdout.readline().strip())


def test_the_app_starts_on_the_shipped_zoo_when_the_hub_trickles(tmp_path):
    """Per-request timeouts never fire on a byte every 0.3 s; the deadline on opening the
    zoo does, and `python app.py` serves the shipped zoo with a notice."""
    from tests.conftest import free_port

    trickle, hub_port = serve_script(TRICKLE_HUB)
    port = free_port()
    env = {**os.environ, "HF_ENDPOINT": f"http://127.0.0.1:{hub_port}", "ZOO_HUB_TIMEOUT": "1",
           "HF_HOME": str(tmp_path / "hf"), "ZOO_REPO": "tester/zoo",
           "GRADIO_SERVER_PORT": str(port), "GRADIO_SERVER_NAME": "127.0.0.1"}
    app = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        page = None
        for _ in range(240):  # bounded: 120 s, for a start that takes a few seconds
            if app.poll() is not None:
                break
            try:
                page = httpx2.get(f"http://127.0.0.1:{port}/config", timeout=2).text
                break
            except httpx2.TransportError:
                time.sleep(0.5)
    finally:
        app.terminate()
        output = app.communicate(timeout=30)[0]
        trickle.kill()
        trickle.wait()
    assert page is not None, output
    assert "the shipped zoo (models/)" in page and "did not answer within 1.4 s" in page


def test_the_default_deadline_keeps_the_start_within_15_s(monkeypatch):
    monkeypatch.delenv("ZOO_HUB_TIMEOUT", raising=False)
    assert zhub.hub_timeout() == 10 and zhub.open_deadline() == 14


def test_checking_push_access_against_a_silent_hub_gives_up(monkeypatch):
    monkeypatch.setenv("ZOO_HUB_TIMEOUT", "0.5")
    silent, port = serve_script(SILENT_HUB)
    try:
        with pytest.raises(zhub.HubUnreachableError, match=r"did not answer within 0\.7 s"):
            zhub.check_push_access("tester/zoo", token=WRITER,
                                   endpoint=f"http://127.0.0.1:{port}")
    finally:
        silent.kill()
        silent.wait()


def test_an_oversized_manifest_is_not_downloaded(hub, tmp_path):
    from tests.test_app import SEVEN
    from webapp.predictor import Predictor

    make_zoo(tmp_path / "models")
    zhub.push(tmp_path / "models", "tester/oversized", token=WRITER)
    publish_manifest("tester/oversized", b" " * (MAX_MANIFEST_BYTES + 1) + b"{}")
    hub.requests.clear()
    with pytest.raises(ManifestError, match=r"more than a manifest needs.*not downloaded"):
        zhub.open_repo("tester/oversized", cache_dir=tmp_path / "cache")
    assert not [p for m, p in hub.requests if m == "GET" and p.endswith("manifest.json")]
    p = Predictor(repo="tester/oversized")
    assert "showing the shipped zoo" in p.notice and p.predict(SEVEN, ["mlp-h32-int8"]).ms


@pytest.mark.parametrize("body", [b"[]", b"{}", b"<html>sign in to the wifi</html>"])
def test_an_answer_that_is_not_the_hubs_is_an_error_not_a_crash(hub, tmp_path, body):
    from webapp.predictor import Predictor

    make_zoo(tmp_path / "models")
    zhub.push(tmp_path / "models", "tester/garbled", token=WRITER)
    hub.garbled["/api/models/tester/garbled"] = body
    with pytest.raises(zhub.HubError, match="the Hub's answer could not be read"):
        zhub.open_repo("tester/garbled", cache_dir=tmp_path / "cache")
    assert "showing the shipped zoo" in Predictor(repo="tester/garbled").notice


def test_the_detector_is_pushed_and_pulled_with_the_zoo(hub, tmp_path):
    from tests.test_detector import detector_saying
    from zoo.detector import VARIANT, manifest_section

    local = tmp_path / "models"
    manifest = make_zoo(local)
    files = save_variant(local, VARIANT, detector_saying(0.7))
    manifest["detector"] = manifest_section(files, {"threshold": 0.5})
    write_manifest(local, manifest)
    zhub.push(local, "tester/det", token=WRITER)
    assert set(files) <= set(HfApi(token=WRITER).list_repo_files("tester/det"))
    remote = zhub.open_repo("tester/det", cache_dir=tmp_path / "cache")
    x = np.zeros((1, 28, 28), np.float32)
    assert np.array_equal(remote.load_detector().forward(x),
                          zoo.LocalZoo(local).load_detector().forward(x))
    # a zoo without one answers unchecked rather than failing
    make_zoo(tmp_path / "plain")
    zhub.push(tmp_path / "plain", "tester/plain", token=WRITER)
    assert zhub.open_repo("tester/plain", cache_dir=tmp_path / "c2").load_detector() is None
