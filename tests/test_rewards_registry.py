"""Registry: names, duplicates, class paths, options, and a real entry-point plugin."""

import sys
import textwrap
from pathlib import Path

import pytest

import rewards.registry as registry
from rewards import (
    ENTRY_POINT_GROUP,
    ExactMatch,
    UnknownVerifierError,
    Verifier,
    available_verifiers,
    build_verifier,
    get_verifier,
    register,
)
from rewards.box_verifiers import BoxIoU
from rewards.registry import Registry, UnknownNameError

BUILTINS = {"think_answer_format", "choice_accuracy", "exact_match", "numeric_match", "box_iou", "multi_box_iou"}


@pytest.fixture(autouse=True)
def isolated_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Registrations made by a test disappear after it."""
    monkeypatch.setattr(registry.VERIFIERS, "_classes", dict(registry.VERIFIERS._classes))


class _Always(Verifier):
    def prepare_solution(self, solution, meta):  # noqa: ANN001, ANN201
        return None

    def score_one(self, completion, target, meta):  # noqa: ANN001, ANN201
        return 1.0, False

    def canonical_answer(self, solution, meta):  # noqa: ANN001, ANN201
        return ""


def test_builtins_are_registered() -> None:
    assert BUILTINS <= set(available_verifiers())
    assert get_verifier("exact_match") is ExactMatch
    assert ExactMatch.name == "exact_match"


def test_duplicate_name_is_refused() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register("exact_match")(type("Other", (_Always,), {}))


def test_register_rejects_non_verifiers_and_bad_names() -> None:
    with pytest.raises(TypeError, match="Verifier subclass"):
        register("not_a_verifier")(dict)  # type: ignore[type-var]
    with pytest.raises(ValueError, match="invalid verifier name"):
        register("has space")


def test_unknown_name_lists_known_names() -> None:
    with pytest.raises(UnknownVerifierError) as info:
        get_verifier("box_iuo")
    for name in BUILTINS:
        assert name in str(info.value)
    # Both a failed lookup and a bad configuration value, so either handler catches it.
    assert isinstance(info.value, KeyError) and isinstance(info.value, ValueError)
    assert str(info.value).startswith("unknown verifier 'box_iuo'")  # not KeyError's quoted repr


def test_class_path_lookup() -> None:
    assert get_verifier("rewards.box_verifiers.BoxIoU") is BoxIoU
    assert build_verifier("rewards.box_verifiers.BoxIoU", threshold=0.5).threshold == 0.5
    with pytest.raises(TypeError, match="not a rewards.base.Verifier"):
        get_verifier("collections.OrderedDict")
    with pytest.raises(UnknownVerifierError, match="cannot import"):
        get_verifier("no_such_package_xyz.Verifier")
    with pytest.raises(UnknownVerifierError, match="no attribute"):
        get_verifier("rewards.box_verifiers.NoSuchClass")


def test_unregistered_class_path_verifier_is_named_after_its_class() -> None:
    result = build_verifier(f"{__name__}._Always").score(["x"], [None], [{}])
    assert result.name == "_Always"


def test_unknown_option_names_verifier_and_option() -> None:
    with pytest.raises(ValueError, match=r"'box_iou'.*'thresh'.*valid options: threshold"):
        build_verifier("box_iou", thresh=0.5)


def _write_distribution(root: Path, module: str, body: str, entry_points: str) -> None:
    """A minimal installed distribution: one module plus its ``.dist-info``."""
    (root / f"{module}.py").write_text(textwrap.dedent(body))
    info = root / f"{module}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{entry_points}\n")


PLUGIN = """
    from rewards.base import Verifier

    class Shouting(Verifier):
        '''1.0 when the completion is all capitals.'''

        def __init__(self, min_len: int = 1) -> None:
            self.min_len = min_len

        def prepare_solution(self, solution, meta):
            return None

        def score_one(self, completion, target, meta):
            ok = len(completion) >= self.min_len and completion.isupper()
            return float(ok), False

        def canonical_answer(self, solution, meta):
            return "YES"
"""


def test_entry_point_plugin_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_distribution(tmp_path, "modomodo_plugin_shout", PLUGIN, "shouting = modomodo_plugin_shout:Shouting")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "modomodo_plugin_shout", raising=False)
    assert "shouting" not in registry.VERIFIERS  # lazily loaded: nothing imported yet
    cls = get_verifier("shouting")
    assert cls.__module__ == "modomodo_plugin_shout" and cls.name == "shouting"
    assert "shouting" in available_verifiers()
    verifier = build_verifier("shouting", min_len=2)
    assert verifier.score(["HELLO", "hello", "H"], [None] * 3, [{}] * 3).scores == [1.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="'shouting'.*'loud'"):
        build_verifier("shouting", loud=True)


def test_broken_entry_point_reports_its_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    body = "raise ImportError('boom')\n"
    _write_distribution(tmp_path, "modomodo_plugin_broken", body, "broken = modomodo_plugin_broken:X")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(UnknownVerifierError, match="failed to load: boom"):
        get_verifier("broken")
    with pytest.warns(RuntimeWarning, match="broken"):
        names = available_verifiers()
    assert BUILTINS <= set(names)  # one broken plugin does not hide the others


class _Shape:
    def __init__(self, sides: int = 3) -> None:
        self.sides = sides


def test_generic_registry_register_lookup_build_and_names() -> None:
    shapes: Registry[_Shape] = Registry("shape", _Shape)

    @shapes.register("square")
    class Square(_Shape):
        def __init__(self, side: float = 1.0) -> None:
            super().__init__(4)
            self.side = side

    assert Square.name == "square" and "square" in shapes and shapes.names() == ["square"]
    assert shapes.get("square") is Square
    assert shapes.get(f"{__name__}._Shape") is _Shape  # a class path needs no registration
    assert shapes.build("square", side=2.0).side == 2.0
    with pytest.raises(ValueError, match=r"shape 'square' got unknown option\(s\) 'colour'; valid options: side"):
        shapes.build("square", colour="red")
    with pytest.raises(ValueError, match="already registered"):
        shapes.register("square")(Square)
    with pytest.raises(TypeError, match="_Shape subclass"):
        shapes.register("circle")(dict)
    with pytest.raises(UnknownNameError, match=r"unknown shape 'sqare'; valid names: square"):
        shapes.get("sqare")
    with pytest.raises(TypeError, match="is not a"):
        shapes.get("collections.OrderedDict")
