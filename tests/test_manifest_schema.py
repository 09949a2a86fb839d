"""The manifest schema: what every reader may rely on, checked once for local and Hub alike."""

import copy
import json

import pytest

from tests.conftest import ROOT
from zoo.manifest import (
    ManifestError,
    check_manifest,
    parse_manifest,
    read_manifest,
    read_usable,
    validate_manifest,
)

SHIPPED = read_manifest(ROOT / "models")
NAME = "mlp-h32-int8"


def broken(change):
    m = copy.deepcopy(SHIPPED)
    change(m, m["variants"][NAME])
    return m


def test_the_shipped_manifest_passes():
    assert validate_manifest(copy.deepcopy(SHIPPED), "models/manifest.json") == SHIPPED


@pytest.mark.parametrize(("change", "message"), [
    (lambda m, e: e.pop("test_accuracy"), f"'{NAME}' has no field 'test_accuracy'"),
    (lambda m, e: e.update(bits="8"), "field 'bits' must be an integer, not '8'"),
    (lambda m, e: e.update(bits=True), "field 'bits' must be an integer, not True"),
    (lambda m, e: e.update(params=-1), "field 'params' must be an integer >= 0"),
    (lambda m, e: e.update(experimental=0), "field 'experimental' must be true or false"),
    (lambda m, e: e.update(parent=3), "field 'parent' must be a variant name or null"),
    (lambda m, e: e.update(test_accuracy=1.5), "field 'test_accuracy' must be a number in"),
    (lambda m, e: e.update(test_accuracy=float("nan")), "field 'test_accuracy'"),
    (lambda m, e: e.update(name="other"), "field 'name' is 'other', not its key"),
    (lambda m, e: e.update(files={}), "field 'files' must be a non-empty object"),
    (lambda m, e: e.update(files=[]), "field 'files' must be a non-empty object"),
    (lambda m, e: e.update(files={"/etc/x": {"bytes": 1, "sha256": "0" * 64}}),
     "'/etc/x' is not a relative POSIX path"),
    (lambda m, e: e.update(files={"a/../b": {"bytes": 1, "sha256": "0" * 64}}),
     "is not a relative POSIX path"),
    (lambda m, e: e.update(files={"a\\b": {"bytes": 1, "sha256": "0" * 64}}),
     "is not a relative POSIX path"),
    (lambda m, e: e.update(files={"a": {"bytes": "1", "sha256": "0" * 64}}),
     "file 'a' field 'bytes' must be an integer >= 0"),
    (lambda m, e: e.update(files={"a": {"bytes": 1, "sha256": "F" * 64}}),
     "file 'a' field 'sha256' must be 64 lowercase hex digits"),
    (lambda m, e: e.update(files={"a": "x"}), "file 'a' is not an object"),
    (lambda m, e: m["variants"].update({NAME: "x"}), f"'{NAME}' is a str, not an object"),
    (lambda m, e: e.update(bytes=0), "field 'bytes' must be an integer >= 1"),
    (lambda m, e: e.update(family=["mlp"]), "field 'family' must be a non-empty string"),
    (lambda m, e: e.update(delta_to_parent="0.1"), "field 'delta_to_parent' must be a finite"),
    (lambda m, e: e.update(qat={"ptq_accuracy": "high"}), "field 'qat' must be null or an"),
    (lambda m, e: e.update(temperature=0), "field 'temperature' must be a number in"),
    (lambda m, e: e["files"].update({"variants/x/extra.bin": {"bytes": 1, "sha256": "0" * 64}}),
     f"field 'files' must list exactly variants/{NAME}/model.safetensors and "
     f"variants/{NAME}/config.json"),
    (lambda m, e: next(iter(e["files"].values())).update(bytes=1 << 40),
     "is 1099511627776 bytes, more than the 268435456 allowed"),
    (lambda m, e: m["variants"].update({"../x": {**e, "name": "../x"}}),
     "'../x' is not a valid variant name"),
    (lambda m, e: m["variants"].clear(), "lists no variants"),
    (lambda m, e: m.update(variants=[]), "has no 'variants' table"),
    (lambda m, e: m.update(format_version=2), "format_version 2; this code reads 1"),
])
def test_each_problem_is_named(change, message):
    with pytest.raises(ManifestError, match=r"^origin\.json") as e:
        validate_manifest(broken(change), "origin.json")
    assert message in str(e.value)


def test_parse_rejects_non_objects_and_long_values_are_cut():
    for data in (b"[]", b"3", b'"x"', b"null"):
        with pytest.raises(ManifestError, match="origin"):
            parse_manifest(data, "origin")
    m = broken(lambda m, e: e.update(architecture=["x" * 10_000]))
    with pytest.raises(ManifestError) as e:
        parse_manifest(json.dumps(m).encode(), "origin")
    assert len(str(e.value)) < 300


def test_fields_not_in_the_schema_are_not_required():
    """hidden, family, shape and the rest belong to the engine; the schema leaves them be."""
    m = broken(lambda m, e: [e.pop(k, None) for k in ("hidden", "recipe", "seed", "versions")])
    assert validate_manifest(m, "origin")["variants"][NAME]["files"]


def test_readers_keep_the_valid_entries_and_say_why_the_others_went():
    m = broken(lambda m, e: e.pop("params"))
    m["variants"]["mlp-h64-int8"] = "mlp-h64-int8"
    before = copy.deepcopy(m)
    usable, problems = check_manifest(m, "origin.json")
    assert m == before  # the input is left as it was
    assert set(usable["variants"]) == set(SHIPPED["variants"]) - {NAME, "mlp-h64-int8"}
    assert problems == {NAME: f"origin.json: variant '{NAME}' has no field 'params'",
                        "mlp-h64-int8": "origin.json: variant 'mlp-h64-int8' is a str, not "
                                        "an object"}
    assert usable["dataset"] == SHIPPED["dataset"]
    with pytest.raises(ManifestError, match=r"none of its 1 variants is usable; origin\.json: "
                                            r"variant 'x' is a str"):
        check_manifest({"variants": {"x": "x"}}, "origin.json")


def test_a_manifest_is_read_within_bounds(tmp_path):
    (tmp_path / "manifest.json").write_bytes(b"[" * 100_000 + b"]" * 100_000)
    with pytest.raises(ManifestError, match="nests too deeply"):
        read_usable(tmp_path)
    with (tmp_path / "manifest.json").open("wb") as f:
        f.truncate(1 << 40)
    with pytest.raises(ManifestError, match="1099511627776 bytes, more than the 4194304"):
        read_manifest(tmp_path)
    (tmp_path / "manifest.json").unlink()
    (tmp_path / "manifest.json").mkdir()
    with pytest.raises(ManifestError, match="is not a regular file"):
        read_manifest(tmp_path)
