"""Plug-in settings whose work lives in another module: the registered "module:function"."""

from dataclasses import dataclass

import pytest

from tomoprune.cs.bases import BASES
from tomoprune.methods.neuron.scoring.settings import BUILTIN_BASES
from tomoprune.plugins import PluginRegistry, Settings, load_object


def doubled(settings, value):
    """An implementation: called with the settings first, then the method's arguments."""
    return 2 * settings.factor * value


class Scaler(Settings):
    def apply(self, value):
        return self.run_implementation("apply", value)


def test_a_registered_implementation_is_called_with_the_settings_and_the_arguments():
    registry = PluginRegistry("scaler")

    @registry.register("double", summary="twice the factor", implementation=f"{__name__}:doubled")
    @dataclass(frozen=True, kw_only=True)
    class Double(Scaler):
        factor: float = 1.5

    assert Double.implementation == f"{__name__}:doubled"
    assert Double(factor=2.0).apply(3.0) == 12.0
    assert registry.create("double").apply(1.0) == 3.0


def test_a_plug_in_without_implementation_or_method_names_what_is_missing():
    registry = PluginRegistry("scaler")

    @registry.register("bare", summary="defines nothing")
    @dataclass(frozen=True, kw_only=True)
    class Bare(Scaler):
        pass

    with pytest.raises(NotImplementedError, match=r"Bare must define apply\(\)"):
        Bare().apply(1.0)


def test_load_object_reads_module_and_attribute():
    assert load_object("math:sqrt")(9.0) == 3.0


def test_the_torch_free_basis_names_are_the_bases_registered_by_cs():
    assert sorted(BUILTIN_BASES) == BASES.names()
