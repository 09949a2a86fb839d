"""ONNX export: every shipped variant, run in ONNX Runtime, answers what the engine answers."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import zoo
from engine.training import to_input
from tests.conftest import ROOT
from zoo.export import INPUT, LOGITS, PROBS, export, main  # imports onnx only when exporting

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

MODELS = ROOT / "models"
ZOO = zoo.LocalZoo(MODELS)
DETECTOR = (ZOO.manifest.get("detector") or {}).get("name")
NAMES = ZOO.names + ([DETECTOR] if DETECTOR else [])

# Probabilities. float32 and the quantised precisions: the graph does the engine's float32
# arithmetic in another order (largest difference measured over the zoo: 4.1e-6). float64:
# double inside, only the float32 outputs rounded, by at most 2^-25 (measured 3.0e-8).
# Logits, likewise: float32 sums of hundreds of products in another order; float64 rounded
# once to float32, a relative 2^-24.
PROBS_ATOL = {np.float32: 1e-5, np.float64: 1e-7}
LOGITS_TOL = {np.float32: {"rtol": 1e-5, "atol": 1e-4}, np.float64: {"rtol": 1e-7, "atol": 0}}


@pytest.fixture(scope="module")
def images(mnist):
    """Real test digits, and inputs no digit looks like: noise, specks, blank, all ink."""
    rng = np.random.default_rng(0)
    return np.concatenate([
        to_input(mnist.test_images[:500]),
        rng.random((4, 28, 28), dtype=np.float32),
        (rng.random((4, 28, 28)) < 0.1).astype(np.float32),
        np.zeros((1, 28, 28), np.float32),
        np.ones((1, 28, 28), np.float32),
    ])


def session(path):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1  # cores are shared
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def load(name):
    return ZOO.load_detector() if name == DETECTOR else zoo.load(name, models_dir=MODELS)


@pytest.mark.parametrize("name", NAMES)
def test_onnx_answers_what_the_engine_answers(name, images, tmp_path):
    path = export(name, tmp_path / f"{name}.onnx", MODELS)
    model = load(name)
    s = session(path)
    (inp,), outs = s.get_inputs(), s.get_outputs()
    assert (inp.name, inp.type, inp.shape) == (INPUT, "tensor(float)", ["N", 28, 28])
    assert [o.name for o in outs] == [PROBS, LOGITS]
    meta = s.get_modelmeta().custom_metadata_map
    assert meta["variant"] == name
    if name != DETECTOR:
        assert meta["precision"] == ZOO.manifest["variants"][name]["precision"]
    dtype = np.dtype(model.dtype).type
    # A batch, and one image: the engine runs one image through code of its own.
    for x in (images, images[:1]):
        probs, logits = s.run([PROBS, LOGITS], {INPUT: x})
        ref = model.predict_proba(x)
        assert probs.dtype == logits.dtype == np.float32
        np.testing.assert_allclose(probs, ref, rtol=0, atol=PROBS_ATOL[dtype])
        np.testing.assert_allclose(logits, model.forward(x), **LOGITS_TOL[dtype])
        # Two near-equal top answers may swap within the tolerance; nothing else may.
        top = np.sort(ref, axis=1)
        tie = top[:, -1] - top[:, -2] <= 2 * PROBS_ATOL[dtype]
        assert tie.mean() < 0.01
        np.testing.assert_array_equal(probs.argmax(axis=1)[~tie], ref.argmax(axis=1)[~tie])


def run(*args):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([sys.executable, "-m", "zoo.export", *map(str, args)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)


def test_cli_writes_a_variant(tmp_path):
    path = tmp_path / "out" / "m.onnx"
    out = run("mlp-h32-int8", "--onnx", path)
    assert out.returncode == 0, out.stderr
    assert path.is_file() and str(path) in out.stdout
    assert onnx.load(path).graph.input[0].name == INPUT
    assert [p.name for p in path.parent.iterdir()] == ["m.onnx"]  # no temporary left


def test_cli_unknown_variant_is_one_line_and_no_traceback(tmp_path):
    out = run("mlp-h33-float32", "--onnx", tmp_path / "m.onnx")
    assert out.returncode == 1
    assert out.stderr.startswith("error: no variant 'mlp-h33-float32'")
    assert "did you mean" in out.stderr
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    assert not list(tmp_path.iterdir())


def test_bad_output_paths_are_refused_by_name(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    for path, why in ((tmp_path, "is a folder"), (tmp_path / "file" / "m.onnx", "is a file")):
        assert main(["mlp-h32-float32", "--onnx", str(path)]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"error: cannot write {path}") and why in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_without_onnx_it_says_how_to_get_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "onnx", None)  # makes `import onnx` fail
    assert main(["mlp-h32-float32", "--onnx", str(tmp_path / "m.onnx")]) == 1
    assert "pip install onnx" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_all_exports_every_variant_of_a_zoo(tmp_path, capsys):
    """--all and --models-dir, on a zoo of two variants copied from the shipped one."""
    names = ["cnn-c8c16-float64", "mlp-h32-int2"]
    small = tmp_path / "models"
    manifest = {k: v for k, v in ZOO.manifest.items() if k != "detector"}
    manifest["variants"] = {n: ZOO.manifest["variants"][n] for n in names}
    for n in names:
        shutil.copytree(MODELS / "variants" / n, small / "variants" / n)
    (small / "manifest.json").write_text(json.dumps(manifest))
    assert main(["--list", "--models-dir", str(small)]) == 0
    assert capsys.readouterr().out.split() == names
    assert main(["--all", str(tmp_path / "onnx"), "--models-dir", str(small)]) == 0
    assert sorted(p.name for p in (tmp_path / "onnx").iterdir()) == [f"{n}.onnx" for n in names]
