"""The bench scripts' helpers: FLOP counts, turn-taking and how spreads are written.

The bench scripts print speed figures; these tests check only what the figures are built
from (no timing is asserted).
"""

from __future__ import annotations

import importlib.util
import re

import numpy as np
import pytest

from engine.cnn import CNN, CONV_DEFAULTS
from engine.conv import maxpool
from engine.mlp import MLP
from tests.conftest import ROOT


def _bench(name: str):
    """A bench module by path: bench/ is scripts, not a package on the path."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


flops = _bench("flops")
common = _bench("_common")


def test_mlp_flops_count_each_product_and_skip_the_input_gradient():
    model = MLP.init({"sizes": [784, 32, 16, 10]})
    assert flops.layer_flops(model) == [2 * 784 * 32, 2 * 32 * 16, 2 * 16 * 10]
    forward = 2 * (784 * 32 + 32 * 16 + 16 * 10)
    assert flops.forward_flops(model) == forward
    assert flops.train_flops(model) == 2 * forward + 2 * (32 * 16 + 16 * 10)


@pytest.mark.parametrize("config", [
    {"conv": [{"channels": 8, "kernel": 3}, {"channels": 16, "kernel": 3}], "dense": []},
    {"conv": [{"channels": 4, "kernel": 3, "pad": 1}, {"channels": 6, "kernel": 5, "pool": 1},
              {"channels": 5, "kernel": 3, "pool": 3}], "dense": [12]},
])
def test_cnn_flops_match_the_gemms_the_engine_runs(config):
    """Each convolution's count is 2 x the im2col matrix the engine builds x its outputs."""
    model = CNN.init(config)
    a = np.zeros((1, 28, 28, 1), np.float32)
    expected = []
    for conv, c in zip(model.convs, config["conv"]):
        cols = np.empty(conv.patches_shape(a.shape), a.dtype)
        z = conv(a, cols=cols)
        expected.append(2 * cols.size * conv.W.shape[-1])
        pool = {**CONV_DEFAULTS, **c}["pool"]
        a = maxpool(z, pool)[0] if pool > 1 else z
    expected += [2 * layer.W.size for layer in model.dense]
    assert a.size == model.dense[0].W.shape[0]  # the walk reached the dense layers' input
    assert flops.layer_flops(model) == expected
    assert flops.train_flops(model) == 2 * sum(expected) + sum(expected[1:])


def test_take_turns_alternates_and_drops_the_warm_up_round():
    calls = []

    def fn(k):
        def run():
            calls.append(k)
            return calls.count(k)
        return run

    out = common.take_turns({"a": fn("a"), "b": fn("b")}, rounds=2, pause=0)
    assert calls == ["a", "b"] * 3
    assert out == {"a": [2, 3], "b": [2, 3]}


def test_spreads_show_the_median_and_the_range_of_the_rounds():
    assert common.spread([5100, 5300, 5210]) == "5,210 (5,100–5,300)"
    assert common.spread([7.04], "{:.1f}") == "7.0"  # one round: no range
    # Ratio of the medians (3 / 2.5), then the round-by-round ratios 2.0 and 1.0.
    assert common.ratio_spread([2.0, 4.0], [1.0, 4.0]) == "**1.20x** (1.00–2.00)"


def test_sgemm_note_reports_before_and_after_at_each_thread_count():
    note = common.sgemm_note({1: 101.04, 2: 198.6}, {1: 99.5, 2: 150.0})
    assert "at 1 thread: 101.0 GFLOP/s before the timed part, 99.5 after" in note
    assert "at 2 threads: 198.6 GFLOP/s before the timed part, 150.0 after" in note


def test_a_block_records_the_command_that_rewrites_it_in_its_own_file(tmp_path, monkeypatch):
    doc = common.ROOT / common.DOC
    assert common.command(["bench/qat.py", "--archs", "mlp-h32", "--readme", "x.md"], doc) == \
        "python bench/qat.py --archs mlp-h32 --doc docs/benchmarks.md"
    assert common.command(["bench/load.py", "--doc=x.md", "--hostile", "2"], doc) == \
        "python bench/load.py --hostile 2 --doc docs/benchmarks.md"
    page = tmp_path / "page.md"
    page.write_text("intro\n<!-- bench:demo:start -->\nold\n<!-- bench:demo:end -->\nmore\n")
    monkeypatch.setattr(common.sys, "argv", ["bench/demo.py", "--n", "3", "--doc", str(page)])
    common.emit("demo", "| a |\n|---|\n| 1 |", page)
    text = page.read_text()
    assert text.startswith("intro\n<!-- bench:demo:start -->\n| a |\n|---|\n| 1 |\n\n*Made by "
                           f"`MNIST_DIR=... python bench/demo.py --n 3 --doc {page}` on ")
    assert text.endswith("<!-- bench:demo:end -->\nmore\n") and "old" not in text


def test_every_bench_block_lives_in_the_docs_and_names_the_file_it_lives_in():
    made = re.compile(r"<!-- bench:([\w-]+):start -->.*?\*Made by `MNIST_DIR=\.\.\. "
                      r"python bench/(\w+)\.py[^`]* --doc (\S+)` on .*?<!-- bench:\1:end -->",
                      re.S)
    found = {}
    for page in sorted((ROOT / "docs").glob("*.md")):
        rel = page.relative_to(ROOT).as_posix()
        text = page.read_text()
        assert text.count("<!-- bench:") == 2 * len(made.findall(text)), rel
        for name, script, doc in made.findall(text):
            assert doc == rel, (name, doc, rel)
            assert (ROOT / "bench" / f"{script}.py").exists(), (name, script)
            assert name not in found, name
            found[name] = script
    assert "<!-- bench:" not in (ROOT / "README.md").read_text()  # the README keeps results only
    for script in (ROOT / "bench").glob("*.py"):
        source = script.read_text()
        for name in re.findall(r'emit\("([\w-]+)"', source):
            assert found.get(name) == script.stem, (script.name, name)
            assert f"`bench:{name}` block of {common.DOC}" in source, script.name
    assert found["augmentation-cnn"] == "augmentation"


def test_the_detector_benchs_scores_rank_as_their_formulas_say(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    logo = _bench("detector_logo")
    from engine.model import logits
    from engine.training import init_model
    from zoo.detector import ARCHITECTURE, not_a_digit_probability
    from zoo.registry import family

    model = init_model(family("cnn"), ARCHITECTURE.config, 0, "float32")
    x = np.random.default_rng(0).random((6, 28, 28), dtype=np.float32)
    z = logits(model, x)
    # the default is the shipped score, so the bench's table is the shipped detector's rule
    np.testing.assert_array_equal(logo.SCORES["not"](z), not_a_digit_probability(model, x))
    big = np.array([[800.0, 799.0, *[-50.0] * 8, 3.0], [0.0] * 11])
    expected = -np.array([800 + np.log1p(np.exp(-1.0)), np.log(10.0)])
    np.testing.assert_allclose(logo.SCORES["energy"](big), expected)  # no overflow at 800
    np.testing.assert_allclose(logo.SCORES["max-logit"](big), [-800.0, 0.0])
    digits = np.exp(big[1, :10] - np.log(np.exp(big[1]).sum()))
    np.testing.assert_allclose(logo.SCORES["unsure"](big)[1], 1 - digits.max())


def test_the_detector_benchs_peer_score_and_combination_read_as_their_docstrings_say(
        monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    logo = _bench("detector_logo")
    agree = [np.eye(10)[[3, 5]], np.eye(10)[[3, 7]]]  # two voters: agree on a 3, split 5/7
    np.testing.assert_allclose(logo.doubt(agree), [0.0, 0.5])
    sure_and_unsure = [np.array([[0.9, 0.1] + [0] * 8]), np.array([[0.6, 0.4] + [0] * 8])]
    np.testing.assert_allclose(logo.doubt(sure_and_unsure), [0.25])
    # either score over its own threshold: the larger ratio, above 1 when either is
    np.testing.assert_allclose(logo.either([np.array([0.1, 0.5, 0.2]), np.array([0.6, 0.2, 0.1])],
                                           [0.25, 0.5]), [1.2, 2.0, 0.8])
    assert logo.parts("not|zoo") == ["not", "zoo"] and logo.parts("not") == ["not"]


@pytest.mark.parametrize("side,c,c_out", [(30, 16, 32), (7, 32, 64), (16, 8, 8), (5, 16, 20)])
def test_the_convolution_candidates_compute_the_engines_convolution(side, c, c_out,
                                                                    monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    methods = _bench("conv_methods")
    rng = np.random.default_rng(side)
    x = rng.random((3, side, side, c), np.float32)
    W = rng.standard_normal((3, 3, c, c_out)).astype(np.float32)
    calls = methods.methods(x, W)
    ref = calls["im2col"]()
    assert ref.shape == (3, side - 2, side - 2, c_out)
    for name in ("rows", "winograd"):  # odd maps too: winograd's tiles overhang them
        np.testing.assert_allclose(calls[name](), ref, rtol=0, atol=1e-5 * np.abs(ref).max(),
                                   err_msg=name)
