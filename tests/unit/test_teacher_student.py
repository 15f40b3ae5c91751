"""The teacher-student experiment: data, networks and the regularised/unregularised table."""

import pytest
import torch

from tomoprune.experiments.teacher_student import (
    RESULT_COLUMNS,
    RESULTS_FILE,
    TeacherStudentConfig,
    make_student,
    make_teacher,
    run_teacher_student,
    teacher_task,
)
from tomoprune.fileio import read_csv

FAST = (
    ("alpha", 1e-2),
    ("eval_every", 10),
    ("patience", 2),
    ("regularised_max_steps", 60),
    ("finetune_max_steps", 30),
    ("gradient_prune_samples", 64),
)


def test_networks_have_the_papers_widths():
    teacher = make_teacher((2, 5, 8, 1), "relu", torch.Generator().manual_seed(0))
    student = make_student((2, 25, 25, 1), "relu", torch.Generator().manual_seed(0))

    def widths(model):
        return [model[0].in_features] + [
            m.out_features for m in model if hasattr(m, "out_features")
        ]

    assert widths(teacher) == [2, 5, 8, 1] and widths(student) == [2, 25, 25, 1]
    assert not any(p.requires_grad for p in teacher.parameters())


def test_task_labels_are_the_teachers_outputs_split_for_validation():
    teacher = make_teacher((2, 5, 8, 1), "relu", torch.Generator().manual_seed(0))
    task = teacher_task(
        teacher,
        30,
        test_size=100,
        validation_fraction=0.2,
        noise_std=0.0,
        generator=torch.Generator().manual_seed(1),
    )
    assert (task.train_x.shape, task.val_x.shape, task.test_x.shape) == ((24, 2), (6, 2), (100, 2))
    assert task.kind == "regression"
    torch.testing.assert_close(task.train_y, teacher(task.train_x).flatten())
    torch.testing.assert_close(task.test_y, teacher(task.test_x).flatten())


def test_experiment_trains_both_settings_for_every_size_through_the_loop(tmp_path):
    config = TeacherStudentConfig(sizes=(30, 100), seeds=(0,), test_size=200, method_settings=FAST)
    rows = run_teacher_student(config, tmp_path)
    assert [(r["size"], r["setting"]) for r in rows] == [
        (30, "regularised"),
        (30, "unregularised"),
        (100, "regularised"),
        (100, "unregularised"),
    ]
    assert [r["alpha"] for r in rows] == [1e-2, 0.0, 1e-2, 0.0]
    for row in rows:
        assert row["parameters"] == 2 * 25 + 25 + 25 * 25 + 25 + 25 + 1
        assert 0 < row["nonzero_parameters"] <= row["parameters"]
        assert row["test_loss"] >= 0 and row["train_steps"] > 0
    written = read_csv(tmp_path / RESULTS_FILE)
    assert list(written[0]) == list(RESULT_COLUMNS) and len(written) == 4
    assert (tmp_path / "30-regularised-seed0" / "cycles.csv").is_file()
    # the same data for both settings of one size
    assert rows[0]["test_target_variance"] == rows[1]["test_target_variance"]


def test_experiment_is_reproducible():
    config = TeacherStudentConfig(sizes=(30,), seeds=(0,), test_size=100, method_settings=FAST)
    first, second = run_teacher_student(config), run_teacher_student(config)
    for a, b in zip(first, second, strict=True):
        assert a["test_loss"] == pytest.approx(b["test_loss"], rel=0, abs=0)
        assert a["nonzero_parameters"] == b["nonzero_parameters"]
