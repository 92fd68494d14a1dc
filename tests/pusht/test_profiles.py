"""PushT profiles: the `cpu` profile's long run (``vla0-smol demo --long``)."""

import pytest

from vla0_smol.pusht.profiles import LONG_EPISODES, LONG_STEPS, long_profile, pusht_profile


def test_the_long_run_stretches_the_cpu_schedule_and_evaluates_64_episodes():
    cpu = pusht_profile("cpu")
    long = long_profile(cpu)
    assert long.steps == LONG_STEPS > cpu.steps
    assert long.policy["scheduler_decay_steps"] == LONG_STEPS  # the cosine ends where training ends
    assert long.steps // long.save_freq == 6 and long.steps % long.save_freq == 0  # six, the last at the end
    assert long.eval_episodes == LONG_EPISODES == 64
    same = {k: v for k, v in cpu.policy.items() if k != "scheduler_decay_steps"}
    assert {k: long.policy[k] for k in same} == same  # only sizes change
    assert (long.batch_size, long.dataset, long.expert_episodes) == (cpu.batch_size, cpu.dataset, cpu.expert_episodes)


@pytest.mark.parametrize("name", ["smoke", "full"])
def test_the_long_run_refuses_other_profiles(name):
    with pytest.raises(ValueError, match="cpu profile"):
        long_profile(pusht_profile(name))


def test_demo_long_writes_beside_the_demo_not_over_it(monkeypatch, tmp_path):
    import vla0_smol.book.demo as demo
    from vla0_smol.book import cli

    seen = {}
    monkeypatch.setattr(demo, "run_demo", lambda out, profile, *a, **kw: seen.update(out=out, profile=profile, **kw))
    monkeypatch.setattr("vla0_smol.book.terminal.quiet_terminal", lambda: None)
    cli.main(["demo", "--long"])
    assert str(seen["out"]) == "results/demo_long" and seen["long"] is True
    cli.main(["demo"])
    assert str(seen["out"]) == "results/demo" and seen["long"] is False


def test_demo_long_with_another_profile_is_refused_naming_the_option(capsys):
    from vla0_smol.book import cli

    with pytest.raises(SystemExit) as exit_:
        cli.main(["demo", "--long", "--profile", "smoke"])
    assert exit_.value.code == 2 and "--long" in capsys.readouterr().err
