"""train.py as a user runs it: options, errors without tracebacks, plugins, a quick run."""

import json
import logging
import os
import re
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import READER, ROOT, WRITER, mnist_dir, requires_mnist
from tests.test_app import SEVEN
from tests.test_hub import make_zoo
from webapp.predictor import Predictor
from zoo.detector import GENERATORS


def run(*args, env=None, **kw):
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300, **kw)


def test_help_explains_every_option():
    out = run("train.py", "--help")
    assert out.returncode == 0
    for opt in ("--variants", "--epochs", "--seed", "--drawings", "--data", "--out", "--quick",
                "--plugin", "--list"):
        assert opt in out.stdout


def test_help_shows_a_default_once_and_only_where_there_is_one():
    out = run("train.py", "--help")
    assert out.returncode == 0
    for nothing in ("None", "False", "[]"):
        assert f"(default: {nothing})" not in out.stdout
    for block in re.split(r"\n  (?=-)", out.stdout):  # one option's help each
        assert block.count("(default:") <= 1, block
    flat = " ".join(out.stdout.split())
    assert "(default: $ZOO_REPO)" in flat and "(default: 1500)" in flat


# Runs train.py as `python train.py` would, then says on stderr whether the Hub client was
# imported.
IMPORTS_HUB = textwrap.dedent("""
    import runpy, sys
    sys.argv = ["train.py", *sys.argv[1:]]
    try:
        runpy.run_path("train.py", run_name="__main__")
    except SystemExit:
        pass
    print("huggingface_hub" in sys.modules, file=sys.stderr)
""")


@pytest.mark.parametrize("option", ["--help", "--list"])
def test_help_and_list_do_not_import_the_hub_client(option):
    """It is most of their start-up time, and only a push needs it."""
    out = run("-c", IMPORTS_HUB, option)
    assert out.stderr.strip().splitlines()[-1] == "False", out.stderr


def test_a_reader_that_leaves_early_ends_the_run_quietly():
    """`python train.py --list | head -1`: head has left when the listing is written."""
    read, write = os.pipe()
    os.close(read)
    try:
        out = subprocess.run([sys.executable, "train.py", "--list"], cwd=ROOT, stdout=write,
                             stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write)
    assert out.returncode == 141 and out.stderr == "", out.stderr  # 128 + SIGPIPE


@pytest.mark.parametrize("args,code,message", [
    (["--bogus"], 2, "unrecognized arguments: --bogus"),
    (["--epochs", "0"], 2, "--epochs must be at least 1"),
    (["--epochs", "many"], 2, "invalid int value"),
    (["--variants", "nothing-*"], 2, "no registered variant matches"),
    (["--data", "/nonexistent/mnist", "--quick"], 1, "does not exist"),
    (["--plugin", "/nonexistent/plugin.py", "--list"], 1, "plugin file"),
    (["--derive-only", "--quick"], 2, "--derive-only trains no float parent"),
])
def test_bad_input_gets_a_message_not_a_traceback(tmp_path, args, code, message):
    out = run("train.py", *args, "--out", str(tmp_path))
    assert out.returncode == code, out.stderr
    assert message in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "manifest.json").exists()


PLUGIN = textwrap.dedent('''
    """A plugin written by the test: one architecture and one new precision."""
    import numpy as np
    from engine.training import Recipe
    from zoo import Precision, register_architecture, register_precision

    register_architecture("mlp-test-h24", "mlp", {"sizes": [784, 24, 10]},
                          recipe=Recipe(epochs=1), seed=3)

    @register_precision
    class Float16(Precision):
        name, bits = "float16", 16
        def encode(self, model):
            return {k: v.astype(np.float16) for k, v in model.state_dict().items()}, {}
        def decode(self, tensors, config, shapes):
            return {k: tensors[k].astype(np.float32) for k in shapes}
''')

FAMILY_PLUGIN = textwrap.dedent('''
    """A plugin written by the test: a whole new family, softmax regression."""
    import numpy as np
    from engine.model import Model
    from engine.training import Recipe
    from zoo import register_architecture, register_family

    @register_family("linear")
    class Linear(Model):
        family = "linear"
        def __init__(self, config, W, b, scale=None):
            self._config, self.W, self.b, self.scale = config, W, b, scale
        @classmethod
        def shapes(cls, config):
            return {"out.weight": (784, config["classes"]), "out.bias": (config["classes"],)}
        @classmethod
        def from_state_dict(cls, config, t):
            return cls(config, t["out.weight"], t["out.bias"], t.get("out.weight_scale"))
        @classmethod
        def describe_shape(cls, config):
            return "linear"
        def config(self):
            return self._config
        def state_dict(self):
            d = {"out.weight": self.W, "out.bias": self.b}
            return d if self.scale is None else {**d, "out.weight_scale": self.scale}
        @property
        def classifier(self):
            return "out"
        def _forward(self, x, keep):
            x = x.reshape(len(x), -1)
            z = x @ self.W
            return (z * self.scale if self.scale is not None else z) + self.b, x
        def _backward(self, x, dz, params, inputs):
            s = self.scale if self.scale is not None else 1.0
            return ([x.T @ dz, dz.sum(0)] if params else []), \
                ((dz * s) @ self.W.T if inputs else None)

    register_architecture("lin-10", "linear", {"classes": 10}, recipe=Recipe(epochs=1))
''')


def train_plugin(tmp_path, source: str, pattern: str):
    """Write a plugin, list and quick-train its variants; the listing, manifest and env."""
    plugin = tmp_path / "plugin.py"
    plugin.write_text(source)
    out = tmp_path / "models"
    listed = run("train.py", "--plugin", str(plugin), "--variants", pattern, "--list")
    assert listed.returncode == 0, listed.stderr
    trained = run("train.py", "--plugin", str(plugin), "--variants", pattern, "--quick",
                  "--no-progress", "--data", str(mnist_dir()), "--out", str(out))
    assert trained.returncode == 0, trained.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    return listed.stdout, manifest, {"DIGIT_ZOO_PLUGINS": str(plugin), "ZOO_MODELS_DIR": str(out)}


@requires_mnist
def test_a_new_family_from_a_plugin_trains_saves_lists_and_loads(tmp_path):
    listed, manifest, env = train_plugin(tmp_path, FAMILY_PLUGIN, "lin-*")
    assert "lin-10-int4" in listed and "linear" in listed
    assert set(manifest["variants"]) == {f"lin-10-{p}" for p in
                                         ("float64", "float32", "int8", "int4", "int2")}
    for e in manifest["variants"].values():
        assert e["family"] == "linear" and e["params"] == 7850 and e["test_accuracy"] > 0.5
    load = run("-c", "import zoo; m = zoo.load('lin-10-int4'); print(m.name, m.quantised)",
               env=env)
    assert load.returncode == 0, load.stderr
    assert load.stdout.strip() == "lin-10-int4 True"  # the classifier kept in int8


@requires_mnist
def test_plugin_variant_trains_saves_lists_and_loads(tmp_path):
    listed, manifest, env = train_plugin(tmp_path, PLUGIN, "mlp-test-*")
    assert "mlp-test-h24-float16" in listed and "mlp-test-h24-int8" in listed
    assert set(manifest["variants"]) == {f"mlp-test-h24-{p}" for p in
                                         ("float64", "float32", "int8", "int4", "int2",
                                          "float16")}
    f16 = manifest["variants"]["mlp-test-h24-float16"]
    assert f16["parent"] == "mlp-test-h24-float32" and f16["test_accuracy"] > 0.5
    load = run("-c", "import zoo; m = zoo.load('mlp-test-h24-float16'); print(m.sizes)",
               env=env)
    assert load.returncode == 0, load.stderr
    assert load.stdout.strip() == "[784, 24, 10]"


@requires_mnist
def test_quick_run_writes_a_consistent_manifest(tmp_path):
    out = run("train.py", "--quick", "--no-progress", "--variants", "mlp-h32-*", "--seed", "5",
              "--drawings", "300", "--data", str(mnist_dir()), "--out", str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert "| `mlp-h32-int8` | mlp | 32 | int8 |" in out.stdout
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    e = manifest["variants"]["mlp-h32-int4"]
    assert e["quick"] and e["seed"] == 5 and e["epochs"] == 2 and e["experimental"]
    assert e["parent"] == "mlp-h32-float32" and e["test_accuracy"] == e["test_correct"] / 10000
    parent = manifest["variants"]["mlp-h32-float32"]
    assert e["delta_to_parent"] == round(100 * (e["test_correct"] - parent["test_correct"])
                                         / 10000, 2)
    for rel, info in e["files"].items():
        assert (tmp_path / rel).stat().st_size == info["bytes"]
    # sub-byte variants are fine-tuned with quantisation in the loop, measured against PTQ
    two = manifest["variants"]["mlp-h32-int2"]
    assert two["qat"]["recipe"]["qat"]["bits"] == 2 and two["qat"]["recipe"]["epochs"] == 1
    assert two["qat"]["ptq_accuracy"] == two["qat"]["ptq_test_correct"] / 10000
    assert manifest["variants"]["mlp-h32-int8"]["qat"] is None
    # every variant has a temperature fitted on images it never trained on
    for v in manifest["variants"].values():
        assert v["calibration_images"] == 5000 and v["temperature"] > 0
        assert 0 <= v["ece_test_calibrated"] <= 1 and 0 <= v["ece_test"] <= 1
        assert 0 <= v["drawn_ece"] <= 1 and v["drawn_images"] >= 25  # 10 of each held-out style
    # after MNIST, fine-tuned on MNIST and 300 drawings of each kind
    stage = parent["drawings"]
    assert stage["recipe"]["epochs"] == 1 and stage["recipe"]["lr"] == 3e-5
    assert 6000 + 500 < stage["train_images"] <= 6000 + 600
    assert e["drawings"] == stage and e["train_seconds"] >= stage["train_seconds"]
    assert e["qat"]["train_images"] == stage["train_images"]  # QAT on the same mix


@requires_mnist
def test_by_default_a_run_trains_on_mnist_alone(tmp_path):
    common = ["--quick", "--no-progress", "--data", str(mnist_dir()), "--variants",
              "mlp-h32-float32"]
    for folder, drawings in (("mnist", []), ("drawn", ["--drawings", "300"]),
                             ("start", ["--drawings", "300", "--from-start"])):
        out = run("train.py", *common, *drawings, "--out", str(tmp_path / folder))
        assert out.returncode == 0, out.stderr
    without, with_, start = (json.loads((tmp_path / f / "manifest.json").read_text())
                             ["variants"]["mlp-h32-float32"] for f in ("mnist", "drawn", "start"))
    assert "drawings" not in without and with_["drawings"]["train_images"] > 6000
    assert without["files"] != with_["files"]  # the step changes the weights
    # --from-start: no fine-tune, the drawings in every epoch of the recipe's own training
    assert start["drawings"] == {"from_start": True,
                                 "train_images": with_["drawings"]["train_images"]}
    assert start["train_images"] == without["train_images"] == 6000
    assert start["epochs"] == without["epochs"] == 2  # the quick recipe, not the fine-tune's
    assert len({str(e["files"]) for e in (without, with_, start)}) == 3
    bad = run("train.py", *common, "--drawings", "-1", "--out", str(tmp_path / "bad"))
    assert bad.returncode == 2 and "--drawings must be 0 or more" in bad.stderr
    bad = run("train.py", *common, "--from-start", "--out", str(tmp_path / "bad"))
    assert bad.returncode == 2 and "--from-start needs --drawings N" in bad.stderr


@requires_mnist
def test_the_detector_trains_into_a_zoo_and_answers_from_it(tmp_path):
    """`--detector` as a user runs it (quick): eleven classes, every generator, a threshold
    chosen on held-out images, and the app's predictor asks it."""
    common = ["--quick", "--no-progress", "--data", str(mnist_dir()), "--out", str(tmp_path)]
    alone = run("train.py", "--detector", *common)
    assert alone.returncode == 1 and "has no variants yet" in alone.stderr
    assert run("train.py", "--variants", "mlp-h32-float32", *common).returncode == 0
    out = run("train.py", "--detector", *common)
    assert out.returncode == 0, out.stderr
    assert "threshold" in out.stdout and "of non-digits" in out.stdout
    d = json.loads((tmp_path / "manifest.json").read_text())["detector"]
    assert d["quick"] and d["model_config"]["classes"] == 11 and 0 <= d["threshold"] <= 1
    assert d["generators"] == [" ".join(g) for g in GENERATORS]
    held = d["held_out"]
    assert held["mnist"] == 5000 and 500 < held["drawn"] <= 600  # 300 redrawn + 300 stroke
    assert held["redrawn_flagged"] <= 0.005 and held["stroke_digits_flagged"] <= 0.005
    answer = Predictor(models_dir=tmp_path).predict(SEVEN, ["mlp-h32-float32"])
    assert answer.not_a_digit is not None and answer.unchecked == ""


@requires_mnist
def test_derive_only_reuses_the_float_parent(tmp_path):
    common = ["--no-progress", "--data", str(mnist_dir()), "--out", str(tmp_path)]
    missing = run("train.py", "--derive-only", "--variants", "mlp-h64-int4", *common)
    assert missing.returncode == 1 and "mlp-h64-float32 is not in" in missing.stderr
    assert run("train.py", "--quick", "--variants", "mlp-h64-float32", *common).returncode == 0
    before = json.loads((tmp_path / "manifest.json").read_text())["variants"]
    out = run("train.py", "--derive-only", "--variants", "mlp-h64-int*", *common)
    assert out.returncode == 0, out.stderr
    after = json.loads((tmp_path / "manifest.json").read_text())["variants"]
    assert after["mlp-h64-float32"] == before["mlp-h64-float32"]
    parent = after["mlp-h64-float32"]
    for name in ("mlp-h64-int8", "mlp-h64-int4"):
        assert after[name]["train_seconds"] == parent["train_seconds"]
        assert after[name]["parent_accuracy"] == parent["test_accuracy"]


@requires_mnist
def test_same_seed_same_files_across_processes(tmp_path):
    """Same seed, two separate runs: byte-identical files, so hashes and Hub pushes agree."""
    runs = []
    for name in ("a", "b"):
        out = run("train.py", "--quick", "--no-progress", "--variants", "mlp-h32-*",
                  "--data", str(mnist_dir()), "--out", str(tmp_path / name))
        assert out.returncode == 0, out.stderr
        manifest = json.loads((tmp_path / name / "manifest.json").read_text())
        runs.append({n: e["files"] for n, e in manifest["variants"].items()})
    assert runs[0] == runs[1]


@requires_mnist
def test_a_corrupt_manifest_is_refused_not_replaced(tmp_path):
    """Starting afresh would silently drop every variant the broken manifest listed."""
    (tmp_path / "manifest.json").write_text("{broken")
    out = run("train.py", "--quick", "--no-progress", "--variants", "mlp-h32-float32",
              "--data", str(mnist_dir()), "--out", str(tmp_path))
    assert out.returncode == 1 and "not valid JSON" in out.stderr, out.stderr
    assert (tmp_path / "manifest.json").read_text() == "{broken"


# --- checked before anything is trained ----------------------------------------------------
NO_DATA = ["--quick", "--data", "/nonexistent/mnist"]  # reaching MNIST would fail differently


def test_a_bad_out_is_refused_before_training(tmp_path):
    afile = tmp_path / "models.txt"
    afile.write_text("not a folder")
    out = run("train.py", *NO_DATA, "--out", str(afile))
    assert out.returncode == 1 and f"{afile} is a file, not a models folder" in out.stderr
    assert "Traceback" not in out.stderr and afile.read_text() == "not a folder"
    out = run("train.py", *NO_DATA, "--out", "/proc/digit-zoo-models")
    assert out.returncode == 1 and "/proc/digit-zoo-models" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr and "MNIST" not in out.stderr


def test_one_writer_at_a_time(tmp_path):
    from zoo.writer import ZooWriter

    with ZooWriter(tmp_path):
        out = run("train.py", *NO_DATA, "--out", str(tmp_path))
    assert out.returncode == 1 and "another train.py is writing to" in out.stderr


def test_an_existing_manifest_with_an_invalid_entry_is_refused_not_rewritten(tmp_path):
    from tests.test_artifacts import write_zoo

    write_zoo(tmp_path, ["mlp-h32-float32", "mlp-h64-float32"])
    m = json.loads((tmp_path / "manifest.json").read_text())
    del m["variants"]["mlp-h64-float32"]["params"]
    (tmp_path / "manifest.json").write_text(json.dumps(m))
    before = (tmp_path / "manifest.json").read_bytes()
    out = run("train.py", *NO_DATA, "--variants", "mlp-h32-*", "--out", str(tmp_path))
    assert out.returncode == 1 and "'mlp-h64-float32' has no field 'params'" in out.stderr
    assert (tmp_path / "manifest.json").read_bytes() == before


@pytest.mark.parametrize("mode", [[*NO_DATA, "--push"], ["--push-only"]])
@pytest.mark.parametrize(("args", "env", "message"), [
    (["--repo", "not a repo"], {}, "'not a repo' is not a Hub repo id"),
    (["--repo", "tester/zoo"], {"HF_TOKEN": ""}, "no Hugging Face token"),
    (["--repo", "tester/zoo"], {"HF_TOKEN": "hf_wrong"}, "the token was rejected (401)"),
    (["--repo", "tester/zoo"], {"HF_TOKEN": "READER"},
     "the token belongs to other, who cannot write to tester/"),
])
def test_push_checks_the_repo_and_token_before_training(hub, tmp_path, mode, args, env,
                                                        message):
    """--push-only too: before it reads the zoo, so the answer is the same either way."""
    env = {k: READER if v == "READER" else v for k, v in env.items()}
    out = run("train.py", *mode, *args, "--out", str(tmp_path), env=env)
    assert out.returncode == 1, out.stderr
    assert message in out.stderr and "Traceback" not in out.stderr
    assert "MNIST" not in out.stdout + out.stderr and not (tmp_path / "manifest.json").exists()


def test_push_with_a_good_token_goes_on_to_training(hub, tmp_path):
    out = run("train.py", *NO_DATA, "--push", "--repo", "tester/zoo", "--out", str(tmp_path),
              env={"HF_TOKEN": WRITER})
    assert "will publish to tester/zoo as tester" in out.stdout
    assert out.returncode == 1 and "/nonexistent/mnist does not exist" in out.stderr


@pytest.mark.parametrize("push", [[], ["--push", "--repo", "tester/zoo"]])
def test_a_failed_run_leaves_no_models_folder_it_made(hub, tmp_path, push):
    made, kept = tmp_path / "new", tmp_path / "kept"
    kept.mkdir()
    for out in (made / "models", kept):
        res = run("train.py", *NO_DATA, *push, "--out", str(out), env={"HF_TOKEN": WRITER})
        assert res.returncode == 1 and "/nonexistent/mnist does not exist" in res.stderr
    assert not made.exists()
    assert kept.is_dir()  # the user's folder, however empty, is not this run's to remove


def push_only(out, *args):
    return run("train.py", "--push-only", "--repo", "tester/zoo", "--out", str(out), *args,
               env={"HF_TOKEN": WRITER})


def test_no_progress_hides_the_uploads_progress_bars(hub, tmp_path):
    make_zoo(tmp_path)
    out = push_only(tmp_path, "--no-progress")
    assert out.returncode == 0 and "published" in out.stdout, out.stderr
    assert "%|" not in out.stderr and "it/s" not in out.stderr, out.stderr


def test_an_unchanged_push_is_reported_once_in_the_zoos_words(hub, tmp_path):
    make_zoo(tmp_path)
    assert push_only(tmp_path).returncode == 0
    out = push_only(tmp_path)
    assert out.returncode == 0 and "nothing to publish" in out.stdout, out.stderr
    assert "empty commit" not in out.stderr, out.stderr


def test_the_hub_clients_warning_is_silenced_for_the_push_only(hub, tmp_path, caplog):
    from zoo import hub as zhub

    make_zoo(tmp_path)
    zhub.push(tmp_path, "tester/zoo", token=WRITER)
    with caplog.at_level(logging.WARNING, logger="huggingface_hub"):
        assert not zhub.push(tmp_path, "tester/zoo", token=WRITER).changed
        assert "empty commit" not in caplog.text
        logging.getLogger("huggingface_hub.hf_api").warning("Skipping to prevent empty commit.")
    assert "empty commit" in caplog.text  # once the push is over, the client speaks again


@pytest.mark.parametrize(("plugin", "message"), [
    ("nonexistent_mod", "plugin module 'nonexistent_mod' not found"),
    ("plugin.py", "No module named 'a_dependency_nobody_has'"),
])
def test_a_plugin_that_cannot_load_is_a_message(tmp_path, plugin, message):
    (tmp_path / "plugin.py").write_text("import a_dependency_nobody_has\n")
    spec = str(tmp_path / plugin) if plugin.endswith(".py") else plugin
    out = run("train.py", "--plugin", spec, "--list")
    assert out.returncode == 1 and message in out.stderr and "Traceback" not in out.stderr


@requires_mnist
def test_files_are_written_with_the_users_umask(tmp_path):
    out = run("train.py", "--quick", "--epochs", "1", "--no-progress", "--variants",
              "mlp-h32-int8", "--data", str(mnist_dir()), "--out", str(tmp_path),
              preexec_fn=lambda: os.umask(0o027))
    assert out.returncode == 0, out.stderr
    written = [tmp_path / "manifest.json", *(tmp_path / "variants/mlp-h32-int8").iterdir()]
    assert {oct(p.stat().st_mode & 0o777) for p in written} == {oct(0o640)}


@requires_mnist
def test_derive_only_refuses_a_parent_that_saw_the_calibration_images(tmp_path):
    common = ["--no-progress", "--data", str(mnist_dir()), "--out", str(tmp_path)]
    assert run("train.py", "--quick", "--variants", "mlp-h32-float32", *common).returncode == 0
    path = tmp_path / "manifest.json"
    m = json.loads(path.read_text())
    m["variants"]["mlp-h32-float32"]["train_images"] = 60000  # a zoo from before the split
    path.write_text(json.dumps(m))
    out = run("train.py", "--derive-only", "--variants", "mlp-h32-int8", *common)
    assert out.returncode == 1 and "calibration images included" in out.stderr
