"""``suite.unet``'s public API, like ``suite.style``'s: lazy, complete, visible to ``dir()`` and tab completion."""

import inspect
import rlcompleter
import subprocess
import sys

import pytest

import suite.style
import suite.unet

NAMES = (
    "UNet",
    "build_unet",
    "train",
    "TrainOptions",
    "segment_folder",
    "segment_image",
    "SegmentOptions",
    "load_segmentation",
    "load_preset",
    "preset_names",
    "evaluate_model",
    "evaluate_predictions",
    "export_model",
    "open_source",
    "load_mask",
    "predict_mask",
)


def test_importing_the_packages_starts_no_backend():
    code = (
        "import sys, suite.unet, suite.style, suite.common; "
        "print(sorted(m for m in ('keras', 'tensorflow', 'jax', 'PIL', 'numpy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize(
    "package, names",
    [
        (suite.unet, NAMES),
        (suite.style, ("StyleTransfer", "stylize", "FastStyleTransfer", "fast_stylize", "METHODS", "StyleOptions")),
    ],
)
def test_public_names_are_listed_and_load(package, names):
    listed = dir(package)
    for name in names:
        assert name in listed and name in package.__all__, name
    for name in package.__all__:
        assert getattr(package, name) is not None, name
    completer = rlcompleter.Completer({"pkg": package})
    prefix, expected = (
        ("pkg.segment_i", "pkg.segment_image(") if package is suite.unet else ("pkg.styl", "pkg.stylize(")
    )
    matches = {completer.complete(prefix, i) for i in range(10)} - {None}
    assert expected in matches, matches


def test_unet_api_objects_are_the_library_s():
    from suite.unet.model import UNet
    from suite.unet.segment import segment_folder

    assert suite.unet.UNet is UNet and suite.unet.segment_folder is segment_folder
    assert suite.style.METHODS == ("gatys", "fast")


def test_train_is_the_function_whichever_import_came_first():
    """``suite.unet.train`` is the function, also after the module that defines it (``training``) is imported."""
    import suite.unet.training as module
    from suite.unet import train

    assert train is module.train and callable(train)
    assert list(inspect.signature(train).parameters)[:3] == ["images", "masks", "num_classes"]
    with pytest.raises(TypeError, match="Unknown option"):
        train("nowhere", "nowhere", 2, not_an_option=1)
