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
