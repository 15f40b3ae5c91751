"""The CLI answers help and refuses misspelt run settings before torch is imported."""

import subprocess
import sys

import pytest

PROBE = (
    "import sys\n"
    "from tomoprune.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH', code)\n"
)


def probe(*argv):
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, check=False
    )
    return done.stdout.strip().splitlines()[-1], done.stderr


@pytest.mark.parametrize("argv", [["--help"], ["--version"], [], ["runn"]])
def test_top_level_help_and_usage_errors_do_not_load_torch(argv):
    last, _ = probe(*argv)
    assert last.startswith("NO-TORCH")


def test_a_misspelt_run_setting_is_refused_before_torch_loads():
    last, err = probe("run", "--method", "dtc", "--set", "train.lrr=1")
    assert last == "NO-TORCH 2"
    assert "Did you mean 'train.lr'" in err and err.count("\n") == 1


@pytest.mark.parametrize("command", ["run", "compare", "compress", "methods", "sweep"])
def test_a_command_help_does_not_load_torch(command):
    last, _ = probe(command, "--help")
    assert last == "NO-TORCH 0"


def test_run_help_lists_every_method_from_the_torch_free_catalogue():
    done = subprocess.run(
        [sys.executable, "-c", PROBE, "run", "--help"], capture_output=True, text=True, check=False
    )
    for name in ("dtc", "magnitude", "random", "taylor", "activation", "dense", "drr", "pmmp"):
        assert f"\n  {name} " in done.stdout


@pytest.mark.parametrize(
    ("argv", "nearest"),
    [
        (["run", "--method", "dtc", "--set", "method.lamb=0.3"], "method.lam"),
        (["run", "--method=drr", "--set", "method.betta=5"], "method.beta"),
        (["run", "--method", "pmmp", "--set=method.pmmp_lrr=0.1"], "method.pmmp_lr"),
        (
            ["compare", "--methods", "dtc,magnitude", "--set", "method.fractoin=0.2"],
            "method.fraction",
        ),
        (
            ["compress", "--from", ".", "--method", "gptq", "--set", "method.bitz=4", "--out", "x"],
            "method.bits",
        ),
    ],
)
def test_a_misspelt_method_setting_is_refused_in_one_line_before_torch_loads(argv, nearest):
    last, err = probe(*argv)
    assert last == "NO-TORCH 2"
    assert err.startswith("tomoprune: error: Unknown setting") and err.count("\n") == 1
    assert f"Did you mean '{nearest}'?" in err


def test_an_out_of_range_method_setting_is_refused_naming_the_key_before_torch_loads():
    last, err = probe("run", "--method", "dtc", "--set", "method.lam=-1")
    assert last == "NO-TORCH 2"
    assert "'method.lam'" in err and "-1.0" in err and err.count("\n") == 1


def test_an_unknown_method_is_refused_with_the_nearest_name_before_torch_loads():
    last, err = probe("run", "--method", "dtcc", "--out", "x")
    assert last == "NO-TORCH 2"
    assert "Did you mean 'dtc'?" in err and err.count("\n") == 1


def test_the_settings_objects_are_made_without_torch():
    code = (
        "import sys\n"
        "import tomoprune\n"
        "from tomoprune.posttraining import GPTQ\n"
        "tomoprune.DTC(lam=0.1), tomoprune.DRR(beta=5.0), tomoprune.Magnitude(), GPTQ(bits=3)\n"
        "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "NO-TORCH"
