"""The named steps of a training (models/train_steps.py), driven one by one on a tiny dataset."""

from __future__ import annotations

import pytest
import torch
from eurosat_landcover.models import train_steps
from eurosat_landcover.models.train import build_parser


def _args(data, out, *extra):
    return build_parser().parse_args(
        [
            *(str(data), "--out", str(out), "--epochs", "2", "--batch-size", "16", "--pretrained", "no"),
            *("--max-train-batches", "2", "--max-eval-batches", "1", "--eval-batch-size", "16", "--threads", "1"),
            *("--log-every", "0", "--device", "cpu", *extra),
        ]
    )


def test_steps_one_by_one_and_resume(tiny_folder, tmp_path):
    args = _args(tiny_folder, tmp_path)
    run = train_steps.set_up(args, "cmd", tmp_path)
    assert run.device.type == "cpu" and run.dtype is None and run.n_batches == 2
    assert run.model.channels_last and run.state["epoch"] == 0
    trained = train_steps.train_one_epoch(run, 1)
    assert trained["seen"] == 32 and trained["loss"] > 0 and 0 <= trained["acc"] <= 1
    assert run.model.training  # the epoch ran in training mode
    loss, acc = train_steps.validate(run)
    assert train_steps.record_epoch(run, 1, trained, loss, acc)  # the first epoch is the best so far
    assert not train_steps.record_epoch(run, 1, trained, loss + 1.0, acc)  # same accuracy, higher loss
    assert run.state["bad_epochs"] == 1 and len(run.state["history"]) == 2
    train_steps.checkpoint(run, 1, improved=True)
    assert run.card_path.is_file() and run.last_path.is_file() and run.state["epoch"] == 1

    again = train_steps.set_up(_args(tiny_folder, tmp_path, "--resume"), "cmd2", tmp_path)
    train_steps.resume(again)
    assert again.state["epoch"] == 1 and again.state["commands"] == ["cmd", "cmd2"]
    for a, b in zip(run.model.net.parameters(), again.model.net.parameters()):
        assert torch.equal(a, b)
    result = train_steps.run_test(again, 1.0, stopped_early=False)
    assert result["card_path"] == str(run.card_path) and 0 <= result["test_accuracy"] <= 1


def test_resume_without_a_checkpoint_says_so(tiny_folder, tmp_path):
    run = train_steps.set_up(_args(tiny_folder, tmp_path), "cmd", tmp_path)
    with pytest.raises(SystemExit, match=r"last\.pt does not exist"):
        train_steps.resume(run)


def test_one_cycle_never_steps_past_its_end():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=3)
    steps = 0
    while train_steps.can_step(sched):
        opt.step()
        sched.step()
        steps += 1
    assert steps == 2
