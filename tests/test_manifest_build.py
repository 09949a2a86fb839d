"""Building the manifest train.py writes: the same fields, values and order as it always did,
and what the schema accepts."""

import pytest

from tests.conftest import ROOT
from zoo.drawings import FIELDS
from zoo.entries import detector_entry, manifest_top, variant_entry
from zoo.manifest import entry_problem, read_manifest

SHIPPED = read_manifest(ROOT / "models")
N = SHIPPED["dataset"]["test_images"]


def rebuilt(e: dict) -> dict:
    """`e` built again from the facts train.py measures, as train.py builds it."""
    return variant_entry(e, e["files"], test_correct=e["test_correct"],
                         parent_correct=round(e["parent_accuracy"] * N), test_images=N,
                         qat=e["qat"], calibration=e, training=e, versions=e["versions"],
                         date=e["date"], drawn={k: e[k] for k in FIELDS if k in e})


@pytest.mark.parametrize("name", sorted(SHIPPED["variants"]))
def test_a_shipped_entry_is_rebuilt_field_for_field_in_order(name):
    e = SHIPPED["variants"][name]
    assert list(rebuilt(e).items()) == list(e.items())  # json writes them in this order


def test_what_is_built_is_what_the_schema_accepts():
    e = {**SHIPPED["variants"]["mlp-h32-int4"], "family": "made-up", "extra": 1}
    built = rebuilt(e)
    assert entry_problem(e["name"], built) is None
    assert "extra" not in built and built["family"] == "made-up"  # only the named fields


def test_a_missing_fact_is_an_error_not_a_missing_field():
    e = dict(SHIPPED["variants"]["mlp-h32-int8"])
    del e["train_seconds"]
    with pytest.raises(KeyError, match="train_seconds"):
        rebuilt(e)


def test_the_top_and_the_detector_section():
    assert manifest_top(N) == {k: SHIPPED[k] for k in ("format_version", "dataset")}
    d = SHIPPED["detector"]
    section = {k: v for k, v in d.items() if k not in ("quick", "versions", "date")}
    built = detector_entry(section, quick=d["quick"], versions=d["versions"], date=d["date"])
    assert list(built.items()) == list(d.items())
