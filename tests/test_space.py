"""The Space: its runtime, and a one-command deploy with the real client to a local Hub."""

import os
import re
import socket
import subprocess
import sys
import time

import pytest
from huggingface_hub import HfApi, hf_hub_download, metadata_load, snapshot_download

from tests.conftest import READER, ROOT, WRITER, free_port
from zoo import hub as zhub
from zoo.hub import space
from zoo.manifest import read_manifest

SPACE = "tester/digit-zoo"
KEY = f"spaces/{SPACE}"


def pins(path):
    return dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", (ROOT / path).read_text(), re.M))


def test_sdk_version_is_the_pinned_gradio():
    import gradio

    meta = metadata_load(ROOT / "README.md")
    assert meta["sdk"] == "gradio" and meta["app_file"] == "app.py"
    assert meta["sdk_version"] == pins("requirements.txt")["gradio"] == gradio.__version__
    assert meta["python_version"] == "3.11"  # a string: unquoted, 3.10 would read as 3.1
    # The Space's card shows a short description of at most 60 characters.
    assert 0 < len(meta["short_description"]) <= 60


def test_runtime_and_dev_requirements():
    runtime = pins("requirements.txt")
    assert not {"pytest", "ruff", "playwright"} & set(runtime)
    assert runtime["hf_xet"] and runtime["huggingface_hub"]
    names = list(runtime)
    assert names.index("hf_xet") == names.index("huggingface_hub") + 1  # pinned beside it
    dev = (ROOT / "requirements-dev.txt").read_text().splitlines()
    lines = [x for x in dev if x.strip() and not x.startswith("#")]
    assert lines[:2] == ["-r requirements.txt", "-e ."]
    assert {"pytest", "ruff", "playwright"} <= set(pins("requirements-dev.txt"))
    command = "pip install -r requirements-dev.txt && pytest"
    assert command in (ROOT / ".ci/run").read_text()
    assert command in (ROOT / "README.md").read_text()


def test_space_files_are_what_the_space_runs():
    files = space.space_files(ROOT)
    manifest = read_manifest(ROOT / "models")
    listed = {f"models/{rel}" for e in manifest["variants"].values() for rel in e["files"]}
    assert {"app.py", "requirements.txt", "engine/preprocess.py", "zoo/hub/space.py",
            "webapp/predictor.py", "models/manifest.json"} | listed <= set(files)
    assert all(p.split("/")[0] in ("app.py", "requirements.txt", "engine", "zoo", "webapp",
                                   "models")
               for p in files)
    assert not [p for p in files if "__pycache__" in p or p.endswith(".pyc")]
    assert {p for p in files if p.startswith("models/")} == listed | {"models/manifest.json"}
    assert not [p for p in space.space_files(ROOT, with_models=False) if p.startswith("models/")]


def run_app(folder, env_extra, tmp_path):
    """Start `python app.py` in `folder` (as a Space would) and return (process, url)."""
    port = free_port()
    # Bytecode on, so the __pycache__ it leaves shows which copy of zoo/ the app imported.
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE")}
    env.update(GRADIO_SERVER_PORT=str(port), GRADIO_SERVER_NAME="127.0.0.1",
               HF_HOME=str(tmp_path / "space-hf"), **env_extra)
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=folder, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, f"http://127.0.0.1:{port}/"
        except OSError:
            assert proc.poll() is None, proc.stdout.read()
            time.sleep(0.5)
    proc.terminate()
    raise AssertionError("the app did not start")


def test_deploy_end_to_end(hub, tmp_path):
    from tests.test_app import SEVEN, call

    result = space.deploy(SPACE, ROOT, token=WRITER)
    assert result.changed and result.url == f"{hub.url}/spaces/{SPACE}"
    repo = hub.repos[KEY]
    assert repo.type == "space" and repo.sdk == "gradio"
    head = repo.head()
    expected = set(space.space_files(ROOT)) | {"README.md", ".gitattributes"}
    assert set(head.files) == expected  # the Space's own first README was replaced
    assert not [p for p in head.files if p.split("/")[0] in ("tests", "bench", ".ci", ".venv")]
    assert len(repo.history()) == 2  # the Space's initial commit + one deploy commit

    weights = {p for p in head.files if p.endswith(".safetensors")}
    assert len(weights) == len(read_manifest(ROOT / "models")["variants"])
    assert all(head.files[p].lfs for p in weights)  # through LFS, as the Hub requires
    assert not [p for p, b in head.files.items() if b.lfs and p not in weights]
    lfs_lines = {line["value"]["path"] for line in hub.commit_lines if line["key"] == "lfsFile"}
    assert lfs_lines == weights

    readme = hf_hub_download(SPACE, "README.md", repo_type="space", cache_dir=tmp_path / "c")
    meta = metadata_load(readme)
    assert meta["sdk"] == "gradio" and meta["sdk_version"] == pins("requirements.txt")["gradio"]
    assert meta["app_file"] == "app.py" and "models" not in meta
    assert repo.variables == {} and repo.secrets == {}

    again = space.deploy(SPACE, ROOT, token=WRITER)
    assert not again.changed and again.commit == result.commit
    assert len(repo.history()) == 2  # an unchanged deploy makes no commit

    # The app, started from nothing but a download of the Space, serves predictions.
    hub.storage_requests.clear()
    folder = tmp_path / "space"
    snapshot_download(SPACE, repo_type="space", local_dir=folder, token=WRITER)
    assert {p for m, p, _ in hub.storage_requests if m == "GET"}  # LFS, by redirect
    assert not any(auth for _, _, auth in hub.storage_requests)
    proc, url = run_app(folder, {}, tmp_path)
    try:
        result = call(url, SEVEN, ["mlp-h128-int8", "mlp-h512-float32"], tmp_path)
        assert result["top"] == {"mlp-h128-int8": 7, "mlp-h512-float32": 7}, result
        assert (folder / "zoo/__pycache__").is_dir() and (folder / "engine/__pycache__").is_dir()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_deploy_serving_a_model_repo(hub, tmp_path):
    zhub.push(ROOT / "models", SPACE, token=WRITER)
    result = space.deploy(SPACE, ROOT, models_repo=SPACE, models_revision="main", token=WRITER)
    repo = hub.repos[KEY]
    assert not [p for p in repo.head().files if p.startswith("models/")]
    assert repo.variables["ZOO_REPO"]["value"] == SPACE
    assert repo.variables["ZOO_REVISION"]["value"] == "main"
    assert result.variables == {"ZOO_REPO": SPACE, "ZOO_REVISION": "main"}
    assert repo.secrets == {}  # a token only when asked
    meta = metadata_load(hf_hub_download(SPACE, "README.md", repo_type="space",
                                         cache_dir=tmp_path / "c"))
    assert meta["models"] == [SPACE] and meta["sdk"] == "gradio"
    commits = len(repo.history())

    again = space.deploy(SPACE, ROOT, models_repo=SPACE, models_revision="main",
                         models_token=READER, token=WRITER)
    assert not again.changed and again.variables == {} and len(repo.history()) == commits
    assert repo.secrets["HF_TOKEN"]["value"] == READER
    secrets = HfApi(token=WRITER).get_space_secrets(SPACE)
    assert "HF_TOKEN" in secrets and READER not in repr(secrets)  # write-only

    back = space.deploy(SPACE, ROOT, token=WRITER)  # the shipped zoo again: models/ comes back
    assert back.changed and set(back.removed_variables) == {"ZOO_REPO", "ZOO_REVISION"}
    assert repo.variables == {} and "models/manifest.json" in repo.head().files
    assert "models" not in metadata_load(hf_hub_download(SPACE, "README.md", repo_type="space",
                                                         cache_dir=tmp_path / "c2"))


def run_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "zoo.hub.space", *args], cwd=ROOT,
                          capture_output=True, text=True, env={**os.environ, **(env or {})},
                          timeout=300)


def test_deploy_cli(hub):
    zhub.push(ROOT / "models", "tester/cli-zoo", token=WRITER)
    out = run_cli("tester/cli-space", env={"HF_TOKEN": WRITER})
    assert out.returncode == 0, out.stderr
    assert f"{hub.url}/spaces/tester/cli-space" in out.stdout.splitlines()[-1]
    assert "deployed" in out.stdout and WRITER not in out.stdout + out.stderr
    out = run_cli("tester/cli-space", env={"HF_TOKEN": WRITER})
    assert out.returncode == 0 and "nothing to deploy" in out.stdout
    out = run_cli("tester/cli-space", "--models-repo", "tester/cli-zoo", "--models-token",
                  env={"HF_TOKEN": WRITER, "ZOO_MODELS_TOKEN": READER})
    assert out.returncode == 0, out.stderr
    assert "set Space variable ZOO_REPO=tester/cli-zoo" in out.stdout
    assert "HF_TOKEN (value not shown)" in out.stdout
    assert READER not in out.stdout + out.stderr
    assert hub.repos["spaces/tester/cli-space"].secrets["HF_TOKEN"]["value"] == READER
    out = run_cli("tester/cli-space", env={"HF_TOKEN": "hf_wrong_secret"})
    assert out.returncode == 1 and "rejected" in out.stderr and "Traceback" not in out.stderr
    assert "hf_wrong_secret" not in out.stdout + out.stderr
    out = run_cli("tester/cli-space")
    assert out.returncode == 1 and "no Hugging Face token" in out.stderr
    out = run_cli("tester/cli-space", "--models-token")
    assert out.returncode == 2 and "need --models-repo" in out.stderr


def test_a_missing_model_repo_is_refused_before_deploying(hub):
    with pytest.raises(zhub.HubNotFoundError, match="tester/missing"):
        space.deploy(SPACE, ROOT, models_repo="tester/missing", token=WRITER)
    assert KEY not in hub.repos


@pytest.mark.parametrize("front_matter", ["", "---\ntitle: x\n---\n"])
def test_a_readme_without_space_front_matter_is_refused(tmp_path, front_matter):
    (tmp_path / "README.md").write_text(front_matter + "# x\n")
    with pytest.raises(ValueError, match="no Space front matter"):
        space.space_readme(tmp_path / "README.md", tmp_path / "out.md", None)
