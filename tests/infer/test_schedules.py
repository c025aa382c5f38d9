import pytest

from probgates.infer.schedules import KLAnnealing, LRScheduleConfig, ReduceOnPlateau


def test_linear_kl_annealing_ramps_from_start_to_weight():
    anneal = KLAnnealing(kind="linear", weight=0.5, start=0.2, delay=1.0, epochs=4.0)
    assert anneal(0.0) == pytest.approx(0.5 * 0.2)
    assert anneal(1.0) == pytest.approx(0.5 * 0.2)
    assert anneal(3.0) == pytest.approx(0.5 * (0.2 + 0.8 * 0.5))
    assert anneal(5.0) == anneal(50.0) == pytest.approx(0.5)


def test_logistic_kl_annealing_is_half_at_the_midpoint():
    anneal = KLAnnealing(kind="logistic", weight=1.0, steepness=0.2, midpoint=50)
    assert anneal(50) == pytest.approx(0.5)
    assert anneal(0) < 1e-4 < 0.9999 < anneal(100)


def test_kl_annealing_rejects_bad_settings():
    with pytest.raises(ValueError, match="KL weight must be >= 0"):
        KLAnnealing(weight=-0.1)
    with pytest.raises(ValueError, match="unknown KL annealing kind 'cosine'; valid: none, linear, logistic"):
        KLAnnealing(kind="cosine")


def test_recent_plateau_rule_of_the_music_scripts():
    # lr /= 1.2 after epoch 10 when the loss is worse than each of the last 3 epochs
    schedule = ReduceOnPlateau(2e-3, factor=1 / 1.2, patience=3, rule="recent", after_epoch=10)
    losses = [9, 8, 7, 6, 5, 4, 3, 2, 1, 0.5, 10]  # epoch 11 is worse than all of 1, 0.5, 2
    lrs = [schedule.step(epoch, loss) for epoch, loss in enumerate(losses, start=1)]
    assert lrs[:-1] == [2e-3] * 10
    assert lrs[-1] == pytest.approx(2e-3 / 1.2)


def test_recent_plateau_rule_waits_for_after_epoch():
    schedule = ReduceOnPlateau(1.0, factor=0.5, patience=2, rule="recent", after_epoch=5)
    lrs = [schedule.step(epoch, loss) for epoch, loss in enumerate([1, 2, 3, 4, 5, 6], start=1)]
    assert lrs == [1.0, 1.0, 1.0, 1.0, 0.5, 0.25]


def test_patience_plateau_rule_in_max_mode():
    schedule = ReduceOnPlateau(1.0, factor=0.1, patience=2, mode="max")
    lrs = [schedule.step(e, acc) for e, acc in enumerate([0.5, 0.6, 0.6, 0.55, 0.7, 0.7, 0.7], start=1)]
    assert lrs == pytest.approx([1.0, 1.0, 1.0, 0.1, 0.1, 0.1, 0.01])


def test_exponential_decay_starts_after_epoch():
    schedule = LRScheduleConfig(kind="exponential", gamma=0.5, after_epoch=3).build(1.0)
    lrs = [schedule.step(epoch, 0.0) for epoch in range(1, 6)]  # the lr for epochs 2..6
    assert lrs == [1.0, 1.0, 0.5, 0.25, 0.125]
    every_epoch = LRScheduleConfig(kind="exponential", gamma=0.5).build(1.0)
    assert [every_epoch.step(epoch, 0.0) for epoch in (1, 2)] == [0.5, 0.25]


def test_schedule_state_round_trip():
    a = ReduceOnPlateau(1.0, factor=0.5, patience=1)
    for e, m in enumerate([3, 2, 2.5], start=1):
        a.step(e, m)
    b = ReduceOnPlateau(1.0, factor=0.5, patience=1)
    b.load_state_dict(a.state_dict())
    assert b.step(4, 2.4) == a.step(4, 2.4)


def test_resumed_schedule_keeps_the_lr_and_takes_new_settings():
    constant = LRScheduleConfig(kind="constant").build(3e-3)
    decay = LRScheduleConfig(kind="exponential", gamma=0.5, after_epoch=2).build(1.0)
    decay.load_state_dict(constant.state_dict())  # a constant-lr checkpoint resumed with a decay
    assert (decay.lr, decay.gamma, decay.after_epoch) == (3e-3, 0.5, 2)
    old = {"lr": 0.1, "gamma": 0.9}  # checkpoints of earlier versions also held the settings
    decay.load_state_dict(old)
    assert (decay.lr, decay.gamma) == (0.1, 0.5)


def test_lr_schedule_config_rejects_bad_settings():
    with pytest.raises(ValueError, match="unknown lr_schedule kind 'cyclic'"):
        LRScheduleConfig(kind="cyclic")
    with pytest.raises(ValueError, match="factor must lie in"):
        LRScheduleConfig(kind="plateau", factor=1.5)
    with pytest.raises(ValueError, match="after_epoch must be >= 0"):
        LRScheduleConfig(kind="exponential", after_epoch=-1)
    with pytest.raises(ValueError, match="unknown plateau rule"):
        LRScheduleConfig(kind="plateau", rule="sometimes")
