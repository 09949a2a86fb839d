"""The Space: its runtime, and a one-command deploy with the real client to a local Hub."""

import json
import os
import re
import socket
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
from huggingface_hub import HfApi, hf_hub_download, metadata_load, snapshot_download

from tests.conftest import READER, ROOT, WRITER, four, free_port, seven
from zoo import hub as zhub
from zoo.hub import space
from zoo.manifest import DETECTOR, read_manifest, shipped_files

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
    listed = {f"models/{rel}" for each in shipped_files(manifest).values() for rel in each}
    detector = {f"models/{rel}" for rel in manifest[DETECTOR]["files"]}
    assert len(detector) == 2 and detector <= set(files)  # without it letters get digits
    assert {"app.py", "requirements.txt", "engine/preprocess.py", "zoo/hub/space.py",
            "webapp/predictor.py", "models/manifest.json"} | listed <= set(files)
    assert all(p.split("/")[0] in ("app.py", "requirements.txt", "engine", "zoo", "webapp",
                                   "models")
               for p in files)
    assert not [p for p in files if "__pycache__" in p or p.endswith(".pyc")]
    assert {p for p in files if p.startswith("models/")} == listed | {"models/manifest.json"}
    assert not [p for p in space.space_files(ROOT, with_models=False) if p.startswith("models/")]


# Starts app.py as the Space would, importing nothing but the download: the venv's editable
# install of the project would quietly supply any package the Space lacks, so its finder
# goes, and which copies were imported is written to argv[1] for the test to check.
BOOT = """
import json, runpy, sys
sys.meta_path[:] = [f for f in sys.meta_path if not f.__module__.startswith("__editable_")]
import engine, webapp, zoo
with open(sys.argv[1], "w") as out:
    json.dump({m.__name__: m.__file__ for m in (engine, webapp, zoo)}, out)
sys.argv = ["app.py"]
runpy.run_path("app.py", run_name="__main__")
"""
CLEAN_ENV = ("PATH", "HOME", "LANG", "TMPDIR", "HF_ENDPOINT", "HF_HUB_DISABLE_XET",
             "HF_HUB_DISABLE_TELEMETRY", "GRADIO_ANALYTICS_ENABLED")


def run_app(folder, tmp_path):
    """Start the Space's app.py in `folder`, in a clean environment whose only project code
    is `folder`'s; return (process, url, {package: the __file__ it imported})."""
    port, imported, log = free_port(), tmp_path / "imported.json", tmp_path / "space.log"
    env = {k: os.environ[k] for k in CLEAN_ENV if k in os.environ}
    env.update(PYTHONPATH=str(folder), GRADIO_SERVER_PORT=str(port),
               GRADIO_SERVER_NAME="127.0.0.1", HF_HOME=str(tmp_path / "space-hf"))
    with open(log, "w") as out:  # a file, not a pipe nobody reads: the app cannot block on it
        proc = subprocess.Popen([sys.executable, "-s", "-P", "-c", BOOT, str(imported)],
                                cwd=folder, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, f"http://127.0.0.1:{port}/", json.loads(imported.read_text())
        except OSError:
            assert proc.poll() is None, log.read_text()
            time.sleep(0.5)
    proc.kill()
    proc.wait(timeout=30)
    raise AssertionError(f"the app did not start:\n{log.read_text()}")


def letter(text: str) -> np.ndarray:
    """`text` in a thick stroke font, black on the pad's white 280x280 canvas."""
    img = np.full((280, 280), 255, np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    (w, h), _ = cv2.getTextSize(text, font, 7, 18)
    cv2.putText(img, text, ((280 - w) // 2, (280 + h) // 2), font, 7, 0, 18, cv2.LINE_AA)
    return img


def ask(client, image, variants, tmp_path) -> dict:
    """/predict's answer for `image`, or a failure within a minute."""
    from gradio_client import handle_file

    path = tmp_path / f"d{time.perf_counter_ns()}.png"
    cv2.imwrite(str(path), image)
    drawing = {"background": None, "layers": [], "composite": handle_file(str(path)),
               "id": None}
    return client.submit(drawing, variants, api_name="/predict").result(timeout=60)


def test_deploy_end_to_end(hub, tmp_path):
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
    assert len(weights) == len(shipped_files(read_manifest(ROOT / "models")))
    assert "models/variants/not-a-digit-float32/model.safetensors" in weights
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


def test_the_deployed_space_answers_as_the_app_does(hub, tmp_path):
    """From nothing but a download of the deployed Space, the app reads a drawn digit and
    tells a drawn letter it is not a digit, as `python app.py` does."""
    from gradio_client import Client

    space.deploy(SPACE, ROOT, token=WRITER)
    hub.storage_requests.clear()
    folder = (tmp_path / "space").resolve()
    snapshot_download(SPACE, repo_type="space", local_dir=folder, token=WRITER)
    assert {p for m, p, _ in hub.storage_requests if m == "GET"}  # LFS, by redirect
    assert not any(auth for _, _, auth in hub.storage_requests)
    proc, url, imported = run_app(folder, tmp_path)
    try:
        assert imported == {p: str(folder / p / "__init__.py") for p in space.PACKAGES}
        client = Client(url, verbose=False, httpx_kwargs={"timeout": 60})
        variants = ["mlp-h128-int8", "cnn-c32c64-float32"]
        for text in ("X", "K"):
            answer = ask(client, letter(text), variants, tmp_path)
            assert answer["status"] == "not_a_digit", (text, answer)
            assert set(answer["if_a_digit"]["probabilities"]) == set(variants)
            assert answer["top"] == {}  # no variant's reading is an answer
        for image, digit in ((seven(pen=10, box=(70, 60, 200, 230)), 7), (four(), 4)):
            answer = ask(client, image, variants, tmp_path)
            assert answer["status"] == "ok" and answer["errors"] == {}, answer
            assert answer["top"] == dict.fromkeys(variants, digit), answer
            assert answer["not_a_digit"] is not None  # checked, and judged a digit
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
