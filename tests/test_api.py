"""The public surface: fast import, a sorted and complete __all__, the error tree."""

from __future__ import annotations

import inspect
import subprocess
import sys

import nvgw_nb as nv
from nvgw_nb import errors


def test_import_loads_no_plotting_or_widgets() -> None:
    """`import nvgw_nb` imports neither matplotlib, ipywidgets, pandas, aiohttp nor the server."""
    code = (
        "import sys, nvgw_nb\n"
        "heavy = ('matplotlib', 'ipywidgets', 'pandas', 'uvicorn', 'IPython', 'aiohttp')\n"
        "print(' '.join(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == ""


def test_all_is_sorted_and_complete() -> None:
    """__all__ is sorted, every name resolves, and every public error is exported."""
    assert nv.__all__ == sorted(nv.__all__)
    for name in nv.__all__:
        assert getattr(nv, name) is not None
    error_classes = {
        name
        for name, obj in vars(errors).items()
        if inspect.isclass(obj) and issubclass(obj, errors.NvgwError)
    }
    assert error_classes <= set(nv.__all__)
    assert sorted(errors.__all__) == sorted(error_classes)


def test_every_error_is_in_the_drawn_tree() -> None:
    """The errors module docstring draws every class of the hierarchy."""
    doc = errors.__doc__ or ""
    for name in errors.__all__:
        assert name in doc, name


def test_simulator_is_lazy_but_reachable() -> None:
    """nv.Simulator resolves on first use."""
    assert nv.Simulator.__name__ == "Simulator"


def test_dir_lists_the_public_names_only() -> None:
    """dir(nv) is __all__ and dunders: no typing helpers, no modules imported along the way."""
    import nvgw_nb.cli  # noqa: F401 - loading submodules must not add them to dir()

    names = dir(nv)
    assert set(nv.__all__) <= set(names)
    assert "__version__" in names
    extra = [n for n in names if n not in nv.__all__ and not n.startswith("__")]
    assert extra == []
    for hidden in ("Any", "TYPE_CHECKING", "annotations", "importlib", "errors", "cli"):
        assert hidden not in names
