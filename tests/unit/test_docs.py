"""The documentation stays true: the generated CLI reference covers every command and option,
and the Python examples in the pages are the ones that run."""

import argparse
import importlib.util
import re
from pathlib import Path

import pytest

from tomoprune.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def _load_module(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


cli_reference = _load_module("cli_reference", DOCS / "hooks" / "cli_reference.py")


def _leaf_parsers(parser, found=None):
    """Every parser of the command tree, found independently of the renderer's own walk."""
    found = [] if found is None else found
    found.append(parser)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                _leaf_parsers(sub, found)
    return found


def test_cli_reference_has_a_section_for_every_command():
    page = cli_reference.render(build_parser())
    parsers = _leaf_parsers(build_parser())
    assert len(parsers) > 15  # run, compare, ..., reproduce table1, data compress, ...
    for parser in parsers:
        assert re.search(rf"^#+ `{re.escape(parser.prog)}`$", page, re.M), parser.prog


def test_cli_reference_lists_every_option_of_every_command():
    page = cli_reference.render(build_parser())
    sections = re.split(r"^#+ `(tomoprune[^`]*)`$", page, flags=re.M)
    by_prog = dict(zip(sections[1::2], sections[2::2], strict=True))
    for parser in _leaf_parsers(build_parser()):
        first_cells = [
            row.split(" | ")[0]
            for row in by_prog[parser.prog].splitlines()
            if row.startswith("| `")
        ]
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
                continue
            for name in action.option_strings or [action.metavar or action.dest]:
                word = rf"(?<![\w-]){re.escape(name)}(?![\w-])"
                assert any(re.search(word, cell) for cell in first_cells), (parser.prog, name)


def test_cli_reference_tables_render_two_cells_per_row_whatever_the_help_says():
    """Rendered by Python-Markdown as mkdocs does: a pipe in a help text (``|score|``) or a
    metavar (``N|auto``) neither splits a cell nor shows a backslash."""
    markdown = pytest.importorskip("markdown")
    html = markdown.markdown(cli_reference.render(build_parser()), extensions=["tables"])
    rows = re.findall(r"<tr>(.*?)</tr>", html, re.S)
    assert len(rows) > 100
    for row in rows:
        assert len(re.findall(r"<t[dh]>", row)) == 2, row
    assert "<code>--threads N|auto</code>" in html
    assert "lowest |score| first" in html
    assert "\\|" not in html


def test_cli_reference_escapes_angle_brackets_and_keeps_code_spans():
    assert cli_reference.escape("into OUT/<method>/ (`a|b`)") == "into OUT/&lt;method>/ (`a|b`)"
    assert cli_reference.escape("`x|y` and a|b", in_table=True) == "`x|y` and a\\|b"
    assert cli_reference.escape("per_group *all*") == "per\\_group \\*all\\*"


def _marked_block(text: str, marker: str) -> str:
    match = re.search(rf"<!-- {marker} -->\n```python\n(.*?)```", text, re.S)
    assert match, f"no block marked {marker}"
    return match.group(1)


def test_guide_api_example_is_the_readme_example_that_the_suite_runs():
    """test_readme_example.py executes the README's block; the guide must show the same code."""
    readme = _marked_block((ROOT / "README.md").read_text(encoding="utf-8"), "readme-example")
    guide = (DOCS / "guide" / "your-own-model.md").read_text(encoding="utf-8")
    assert _marked_block(guide, "same-as-readme-example") == readme


def test_docs_link_nothing_outside_the_docs_folder_as_a_relative_path():
    """mkdocs --strict cannot see files outside docs/; such a path belongs in a code span."""
    for page in DOCS.rglob("*.md"):
        if "results" in page.parts:
            continue
        for target in re.findall(r"\]\(([^)#\s]+)", page.read_text(encoding="utf-8")):
            if "://" in target:
                continue
            resolved = (page.parent / target).resolve()
            assert DOCS in resolved.parents, f"{page.relative_to(ROOT)} links {target}"


def test_readme_links_point_at_files_in_the_repository():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)#\s]+)", readme)
    assert len(targets) > 10
    for target in targets:
        assert "://" in target or (ROOT / target).is_file(), target
        assert not target.startswith(".."), f"README links outside the repository: {target}"


def _run_examples():
    """(page, code) of every Python block marked ``<!-- run-example -->`` under docs/."""
    found = []
    for page in sorted(DOCS.rglob("*.md")):
        text = page.read_text(encoding="utf-8")
        for code in re.findall(r"<!-- run-example -->\n```python\n(.*?)```", text, re.S):
            found.append(pytest.param(page, code, id=str(page.relative_to(DOCS))))
    return found


@pytest.mark.parametrize(("page", "code"), _run_examples())
def test_docs_example_runs_as_printed(page, code, tmp_path, monkeypatch):
    """The how-to examples run against the code as it is; what they register is undone."""
    from tomoprune.data.datasets import DATASETS
    from tomoprune.methods import METHOD_REGISTRY, load_builtin_methods
    from tomoprune.methods.l0.settings import REGULARISERS
    from tomoprune.methods.neuron.scoring import SCORERS
    from tomoprune.models import MODEL_REGISTRY, load_builtin_models
    from tomoprune.posttraining import POSTTRAINING

    load_builtin_methods()
    load_builtin_models()
    families = {"scorer": SCORERS, "regulariser": REGULARISERS, "post-training": POSTTRAINING}
    for plugins in families.values():
        monkeypatch.setattr(plugins, "_by_name", dict(plugins._by_name))
    for registry in (METHOD_REGISTRY, DATASETS, MODEL_REGISTRY):
        monkeypatch.setattr(registry, "_items", dict(registry._items))
    before = {family: dict(plugins.items()) for family, plugins in families.items()}
    monkeypatch.chdir(tmp_path)
    exec(compile(code, str(page), "exec"), {"__name__": "docs_example"})
    # a plug-in the example registered must keep the contract every built-in keeps
    added = [
        (family, name, cls)
        for family, plugins in families.items()
        for name, cls in plugins.items()
        if name not in before[family]
    ]
    if added:
        load_builtin_methods()  # --method NAME for the new plug-in
        contract = _load_module(
            "plugin_contract", ROOT / "tests" / "contract" / "test_plugin_contract.py"
        )
        for family, name, cls in added:
            assert METHOD_REGISTRY.get(name).params_type  # the CLI finds it by name
            if family == "post-training":
                contract.test_post_training_settings_and_one_pass_over_any_module(name, cls)
                continue
            contract.test_settings_are_refused_in_one_line_naming_the_setting(family, name, cls)
            run_dir = tmp_path / f"contract-{name}"
            run_dir.mkdir()
            contract.test_a_run_records_resumes_exactly_and_reloads_exactly(
                run_dir, family, name, cls
            )
            assert any(run_dir.rglob("cycles.csv")), f"the contract run of {name} wrote no records"


def test_docs_have_run_examples_for_the_extension_how_tos():
    pages = {Path(p.values[0]).name for p in _run_examples()}
    assert {"scorer.md", "regulariser.md", "post-training-compressor.md"} <= pages
    assert {"dataset.md", "model.md"} <= pages
