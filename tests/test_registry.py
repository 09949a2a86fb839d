import numpy as np
import pytest

import zoo
from engine.cnn import CNN
from engine.mlp import MLP
from zoo.registry import ARCHITECTURES, PRECISIONS


def test_builtin_zoo_is_complete():
    names = {v.name for v in zoo.variants()}
    for width in (32, 64, 128, 256, 512):
        for precision in ("float64", "float32", "int8", "int4", "int2"):
            assert f"mlp-h{width}-{precision}" in names
    for arch in ("cnn-c8c16", "cnn-c32c64", "cnn-c16c32c32"):
        for precision in ("float64", "float32", "int8", "int4", "int2"):
            assert f"{arch}-{precision}" in names
    assert zoo.get_variant("mlp-h64-int4").experimental
    assert not zoo.get_variant("mlp-h64-int8").experimental


def test_wildcards_and_lists():
    assert {v.name for v in zoo.variants("mlp-h128-*")} == {
        "mlp-h128-float64", "mlp-h128-float32", "mlp-h128-int8", "mlp-h128-int4",
        "mlp-h128-int2"}
    assert {v.precision.name for v in zoo.variants("*-int8")} == {"int8"}
    assert len(zoo.variants("mlp-h32-int8, mlp-h64-int8")) == 2
    assert zoo.variants("nothing*") == []


def test_describe_and_parent():
    d = zoo.get_variant("mlp-h128-int8").describe()
    assert d["parent"] == "mlp-h128-float32" and d["params"] == 784 * 128 + 128 + 1290
    assert d["family"] == "mlp" and d["shape"] == "128" and d["bits"] == 8
    assert d["model_config"] == {"sizes": [784, 128, 10]} and d["recipe"]["optimizer"] == "adam"
    assert zoo.get_variant("mlp-h128-float32").parent is None


def test_create_is_seeded_untrained_and_in_its_precision():
    a, b = zoo.create("mlp-h32-int8"), zoo.create("mlp-h32-int8")
    assert isinstance(a, MLP) and a.sizes == [784, 32, 10] and a.name == "mlp-h32-int8"
    assert np.array_equal(a.layers[0].W, b.layers[0].W)
    assert a.quantised and np.array_equal(a.layers[0].W, np.rint(a.layers[0].W))
    assert zoo.create("mlp-h32-float64").dtype == np.float64
    cnn = zoo.create("cnn-c8c16-int4")
    assert isinstance(cnn, CNN) and cnn.name == "cnn-c8c16-int4" and cnn.dtype == np.float32


def test_unknown_name_suggests():
    with pytest.raises(zoo.UnknownVariantError, match="did you mean mlp-h128-int8"):
        zoo.get_variant("mlp-h128-int9")


def test_conflicting_registration_refused():
    with pytest.raises(ValueError, match="already registered"):
        zoo.register_architecture("mlp-h32", "mlp", {"sizes": [784, 33, 10]})
    with pytest.raises(ValueError, match="positive"):
        zoo.register_architecture("mlp-bad", "mlp", {"sizes": [784, 0, 10]})
    with pytest.raises(ValueError, match="unknown model family 'rnn'"):
        zoo.register_architecture("rnn-1", "rnn", {})
    with pytest.raises(TypeError, match="does not implement"):
        zoo.register_family("thing", dict)
    assert ARCHITECTURES["mlp-h32"].config == {"sizes": [784, 32, 10]}
    assert "mlp-bad" not in ARCHITECTURES and "rnn-1" not in ARCHITECTURES
    assert set(PRECISIONS) >= {"float64", "float32", "int8", "int4"}


def test_sub_byte_precisions_fine_tune_with_their_own_grid():
    assert zoo.get_variant("mlp-h64-int8").finetune is None
    assert zoo.get_variant("mlp-h64-float32").finetune is None
    for name, bits, scale in (("mlp-h64-int4", 4, "absmax"), ("cnn-c8c16-int2", 2, "absmean")):
        v = zoo.get_variant(name)
        r = v.finetune
        assert r.qat.bits == bits and r.qat.scale == scale and r.qat.classifier_bits == 8
        assert r.epochs == v.precision.finetune_epochs and r.warmup_epochs == 0
        assert r.augment == v.architecture.recipe.augment  # the parent's data, gentler steps


def test_int2_stores_four_weights_a_byte():
    model = zoo.create("mlp-h64-int2")
    tensors, config = zoo.get_variant("mlp-h64-int2").precision.encode(
        zoo.get_variant("mlp-h64-float32").architecture.init())
    assert tensors["layers.0.weight_q2"].size == 784 * 64 // 4
    assert tensors["layers.0.weight_scale"].shape == (1, 64)
    assert tensors["layers.1.weight_q"].dtype == np.int8  # the classifier stays int8
    assert config == {"group_size": None, "scale": "absmean", "output_bits": 8}
    w = model.parameters()[0]
    for j in range(64):  # ternary: each channel holds at most three values
        assert len(np.unique(w[:, j])) <= 3
