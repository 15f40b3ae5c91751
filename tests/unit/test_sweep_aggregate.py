"""Aggregation over seeds against hand-computed means, intervals and tests."""

import math

import numpy as np
import pytest

from tomoprune.errors import RecordError
from tomoprune.fileio import atomic_write_csv, atomic_write_json, read_csv, read_json
from tomoprune.sweeps.aggregate import aggregate_sweep

# Student t quantile 0.975 with 2 degrees of freedom, closed form for df = 2:
# t_p = (2p - 1) sqrt(2 / (4 p (1 - p)))
T_975_2 = 0.95 * math.sqrt(2 / (4 * 0.975 * 0.025))


def write_run(folder, name, method, seed, sparsity, accuracy):
    run = folder / "runs" / name
    atomic_write_json(run / "config.json", {"status": "finished", "method": method})
    rows = [
        {"cycle": i + 1, "width": 10 - i, "sparsity": s, "test_accuracy": a}
        for i, (s, a) in enumerate(zip(sparsity, accuracy, strict=True))
    ]
    atomic_write_csv(run / "cycles.csv", ["cycle", "width", "sparsity", "test_accuracy"], rows)
    return {"name": name, "axes": {"method": method, "seed": seed}, "method": method, "seed": seed}


@pytest.fixture()
def sweep_dir(tmp_path):
    sparsity = [0.5, 0.8, 0.9, 0.95]
    acc = {
        "dtc": [[0.90, 0.85, 0.80, 0.70], [0.92, 0.86, 0.82, 0.74], [0.91, 0.84, 0.78, 0.72]],
        "random": [[0.91, 0.84, 0.76, 0.66], [0.92, 0.85, 0.80, 0.70], [0.90, 0.83, 0.77, 0.69]],
    }
    runs = [
        write_run(tmp_path, f"method={m}__seed={s}", m, s, sparsity, acc[m][s])
        for m in acc
        for s in range(3)
    ]
    spec = {
        "name": "hand",
        "seeds": [0, 1, 2],
        "base": {},
        "axes": {"method": ["dtc", "random"]},
        "statistics": {"pairs": ["dtc-random"]},  # the default would be random - dtc
    }
    atomic_write_json(
        tmp_path / "sweep.json", {"format": "tomoprune.sweep/1", "spec": spec, "runs": runs}
    )
    return tmp_path, acc


def test_sweep_aggregate_means_intervals_and_pooled_difference_by_hand(sweep_dir):
    folder, acc = sweep_dir
    summary = aggregate_sweep(folder, gibbs=False)
    rows = read_csv(folder / "aggregate" / "accuracy.csv")
    cell = next(
        r for r in rows if r["method"] == "dtc" and r["cycle"] == "4" and r["quantity"] == "raw"
    )
    values = [0.70, 0.74, 0.72]  # mean 0.72, sd 0.02
    assert float(cell["mean"]) == pytest.approx(0.72)
    assert float(cell["ci_low"]) == pytest.approx(0.72 - T_975_2 * 0.02 / math.sqrt(3))
    assert float(cell["sd"]) == pytest.approx(np.std(values, ddof=1))
    # pooled above 0.85: per seed, the mean over the cycles at 0.9 and 0.95
    pooled = next(r for r in summary["pooled_comparisons"] if (r["a"], r["b"]) == ("dtc", "random"))
    per_seed = [
        np.mean(acc["dtc"][s][2:]) - np.mean(acc["random"][s][2:]) for s in range(3)
    ]  # 0.04, 0.03, 0.02: mean 0.03, sd 0.01
    assert pooled["mean"] == pytest.approx(np.mean(per_seed))
    assert pooled["t_low"] == pytest.approx(0.03 - T_975_2 * 0.01 / math.sqrt(3))
    t_stat = 0.03 / (0.01 / math.sqrt(3))
    p = 1 - t_stat / math.sqrt(2 + t_stat**2)  # two-sided t p-value, closed form for df = 2
    assert pooled["p"] == pytest.approx(p)
    assert pooled["family_size"] == 1 and pooled["p_holm"] == pytest.approx(p)
    assert pooled["wilcoxon_p"] == pytest.approx(2 / 8)  # exact: three positive differences
    assert pooled["statistic"] == "high_sparsity_mean" and pooled["quantity"] == "raw"
    assert summary["sentences"][0].startswith(
        "Mean accuracy above 85% sparsity, raw, dtc against random: dtc is better than random"
    )
    assert "with 3 seeds no sign or signed-rank test can reach 0.05" in summary["sentences"][0]
    assert "prediction interval" in summary["interval"]
    rows = read_csv(folder / "aggregate" / "accuracy.csv")
    assert float(cell["pi_high"]) - 0.72 == pytest.approx(T_975_2 * 0.02 * math.sqrt(1 + 1 / 3))
    assert (folder / "aggregate" / "figures" / "accuracy_all.png").stat().st_size > 10_000


def test_unfinished_runs_are_left_out_and_said_so(sweep_dir):
    folder, _ = sweep_dir
    atomic_write_json(folder / "runs" / "method=dtc__seed=2" / "config.json", {"status": "running"})
    summary = aggregate_sweep(folder, gibbs=False, figures=False)
    assert summary["n_runs_finished"] == 5
    assert any("method=dtc__seed=2" in n for n in summary["notes"])
    pooled = summary["pooled_comparisons"][0]
    assert pooled["n"] == 2


def test_the_family_and_margin_come_from_the_spec_and_holm_adjusts_over_it(sweep_dir):
    folder, acc = sweep_dir
    sweep = read_json(folder / "sweep.json")
    sweep["spec"]["statistics"] = {"margin": 0.05, "statistic": "area_under_curve"}  # all pairs
    atomic_write_json(folder / "sweep.json", sweep)
    summary = aggregate_sweep(folder, gibbs=False, figures=False)
    (row,) = summary["pooled_comparisons"]
    assert row["statistic"] == "area_under_curve" and row["margin"] == 0.05
    # area over [0.5, 0.98] needs the curve up to 0.98: these runs stop at 0.95
    assert row["n"] == 0
    assert (
        "curves do not span the range, so random and dtc are not compared"
        in (summary["sentences"][0])
    )


def test_runs_on_different_schedules_are_refused(sweep_dir):
    folder, acc = sweep_dir
    write_run(
        folder, "method=random__seed=1", "random", 1, [0.5, 0.8, 0.88, 0.95], acc["random"][1]
    )
    with pytest.raises(RecordError, match="different schedules"):
        aggregate_sweep(folder, gibbs=False, figures=False)


def test_verify_results_recomputes_the_committed_page_and_catches_an_edited_record(
    sweep_dir, tmp_path_factory
):
    import shutil

    from tomoprune.cli import main
    from tomoprune.reproduce.verify import verify_all

    folder, _ = sweep_dir
    aggregate_sweep(folder, gibbs=False, figures=False)
    root = tmp_path_factory.mktemp("results")
    published = root / "hand"
    shutil.copytree(folder, published / "records")
    shutil.copy(folder / "aggregate" / "summary.md", published / "summary.md")
    (result,) = verify_all(root)
    assert result.ok, result.differences
    assert "sentences" in result.checked and str(published / "summary.md") in result.checked
    assert main(["verify-results", str(root)]) == 0
    # one accuracy changed in a committed record: the numbers no longer follow
    cycles = published / "records" / "runs" / "method=dtc__seed=1" / "cycles.csv"
    cycles.write_text(cycles.read_text().replace("0.74", "0.64"))
    (result,) = verify_all(root)
    assert not result.ok
    assert any(d.startswith("pooled_comparisons[0].mean") for d in result.differences)
    assert main(["verify-results", str(root)]) == 8


def test_a_quoted_line_of_a_note_must_appear_in_a_verified_page(tmp_path):
    from tomoprune.reproduce.verify import verify_quotes

    page = tmp_path / "summary.md"
    page.write_text("- dtc is better than random (p = 0.010).\n")
    note = tmp_path / "note.md"
    note.write_text("Intro.\n> dtc is better than random (p = 0.010).\n")
    assert verify_quotes(note, [page]).ok
    note.write_text("> dtc is better than random (p = 0.001).\n")
    assert not verify_quotes(note, [page]).ok


def write_ablation(folder, baselines=None):
    """A one-method sweep over ``method.lam`` in {0.03, 0.3, 3.0}, three seeds."""
    sparsity = [0.5, 0.8, 0.9, 0.95]
    high = {0.03: [0.70, 0.72, 0.74], 0.3: [0.75, 0.78, 0.78], 3.0: [0.71, 0.73, 0.72]}
    runs = []
    for lam, per_seed in high.items():
        for seed, value in enumerate(per_seed):
            name = f"lam={lam}__seed={seed}"
            entry = write_run(folder, name, "dtc", seed, sparsity, [0.9, 0.85, value, value])
            entry["axes"] = {"method.lam": lam, "seed": seed}
            runs.append(entry)
    statistics = {} if baselines is None else {"baselines": baselines}
    spec = {
        "name": "lam",
        "seeds": [0, 1, 2],
        "base": {"method": "dtc"},
        "axes": {"method.lam": [0.03, 0.3, 3.0]},
        "statistics": statistics,
    }
    atomic_write_json(
        folder / "sweep.json", {"format": "tomoprune.sweep/1", "spec": spec, "runs": runs}
    )
    return high


def test_a_one_method_ablation_compares_every_pair_of_settings_paired_by_seed(tmp_path):
    high = write_ablation(tmp_path)
    summary = aggregate_sweep(tmp_path, gibbs=False, figures=False)
    rows = {(r["a"], r["b"]): r for r in summary["pooled_comparisons"]}
    assert set(rows) == {("lam=0.3", "lam=0.03"), ("lam=3.0", "lam=0.03"), ("lam=3.0", "lam=0.3")}
    row = rows[("lam=3.0", "lam=0.3")]
    diffs = np.subtract(high[3.0], high[0.3])  # -0.04, -0.05, -0.06: mean -0.05, sd 0.01
    assert row["mean"] == pytest.approx(diffs.mean())
    assert row["t_high"] == pytest.approx(-0.05 + T_975_2 * 0.01 / math.sqrt(3))
    assert row["setting"] == "dtc" and row["family_size"] == 3
    ps = sorted(r["p"] for r in rows.values())  # Holm: smallest p times 3, then times 2, ...
    assert min(r["p_holm"] for r in rows.values()) == pytest.approx(min(1.0, 3 * ps[0]))
    assert any(
        s.startswith("Mean accuracy above 85% sparsity, raw (dtc), lam=3.0 against lam=0.3")
        for s in summary["sentences"]
    )


def test_a_declared_baseline_compares_each_other_setting_with_it_only(tmp_path):
    write_ablation(tmp_path, baselines={"method.lam": 0.3})
    summary = aggregate_sweep(tmp_path, gibbs=False, figures=False)
    pairs = {(r["a"], r["b"]) for r in summary["pooled_comparisons"]}
    assert pairs == {("lam=0.03", "lam=0.3"), ("lam=3.0", "lam=0.3")}


def test_a_baseline_that_is_not_an_axis_value_is_refused_in_one_line():
    from tomoprune.errors import ConfigError
    from tomoprune.sweeps.spec import parse_spec

    data = {
        "sweep": {"name": "x"},
        "base": {"method": "dtc"},
        "axes": {"method.lam": [0.03, 0.3]},
        "statistics": {"baselines": {"method.lam": 3.0}},
    }
    with pytest.raises(ConfigError, match=r"baseline method.lam = 3.0 is not one of"):
        parse_spec(data)
    data["statistics"] = {"baselines": {"method": {"basis": "dct1"}}}
    with pytest.raises(ConfigError, match="not an axis of this sweep"):
        parse_spec(data)


def test_the_entropy_verdict_needs_significance_and_every_control_and_says_when_none_exists():
    from tomoprune.sweeps.aggregate import incremental_verdict

    own = {"p": 0.001, "mean_r": -0.3}
    assert "holds no control method" in incremental_verdict(own, [], 0.05)
    assert "opposite in sign" in incremental_verdict(own, [], 0.05)
    beaten = [{"difference_p": 0.01}, {"difference_p": 0.02}]
    assert incremental_verdict({**own, "mean_r": 0.3}, beaten, 0.05) == (
        "entropy tells more about accuracy than size does"
    )
    shared = [{"difference_p": 0.01}, {"difference_p": 0.25}]  # one control as strong
    assert "not shown" in incremental_verdict(own, shared, 0.05)
    assert "not shown" in incremental_verdict({"p": 0.2, "mean_r": 0.5}, beaten, 0.05)
