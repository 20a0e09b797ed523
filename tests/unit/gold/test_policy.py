from __future__ import annotations

import random

import pytest

from crowd.gold.policy import (
    LIKELY_WRONG,
    TOO_EASY,
    GoldAnswer,
    GoldSettings,
    Standing,
    beta_cdf,
    gold_health,
    gold_share,
    interval_width,
    should_block,
)

SETTINGS = GoldSettings(
    gold_rate=0.1, onboarding_tasks=10, onboarding_gold_rate=0.4, min_gold_answers=10, min_accuracy=0.6
)


def test_a_new_worker_sees_gold_at_the_onboarding_rate() -> None:
    assert gold_share(SETTINGS, Standing(answers=0)) == 0.4
    assert gold_share(SETTINGS, Standing(answers=9, gold_answers=9, gold_correct=9)) == 0.4


def test_the_share_falls_to_the_floor_as_accuracy_becomes_certain() -> None:
    shares = [
        gold_share(SETTINGS, Standing(answers=500, gold_answers=n, gold_correct=int(n * 0.9)))
        for n in (0, 5, 10, 20, 40, 80, 160)
    ]
    assert shares == sorted(shares, reverse=True)
    assert shares[0] == pytest.approx(0.4)
    assert shares[-1] == pytest.approx(0.1)
    assert all(0.1 <= s <= 0.4 for s in shares)


def test_a_tight_fitted_interval_settles_a_worker_with_little_gold() -> None:
    unsure = Standing(answers=200, gold_answers=2, gold_correct=2)
    fitted = Standing(answers=200, gold_answers=2, gold_correct=2, reliability_low=0.85, reliability_high=0.95)
    assert gold_share(SETTINGS, unsure) > gold_share(SETTINGS, fitted) == pytest.approx(0.1)


def test_the_floor_holds_when_onboarding_asks_for_less() -> None:
    odd = GoldSettings(
        gold_rate=0.3, onboarding_tasks=5, onboarding_gold_rate=0.1, min_gold_answers=5, min_accuracy=0.5
    )
    assert gold_share(odd, Standing()) == 0.3
    assert gold_share(odd, Standing(answers=100, gold_answers=100, gold_correct=95)) == pytest.approx(0.3)


def test_the_interval_narrows_with_gold_answers() -> None:
    widths = [interval_width(int(0.8 * n), n) for n in (0, 2, 10, 50, 250)]
    assert widths == sorted(widths, reverse=True)
    assert widths[0] == pytest.approx(0.95, abs=0.05)
    assert widths[-1] == pytest.approx(2 * 1.96 * (0.8 * 0.2 / 250) ** 0.5, rel=0.05)


@pytest.mark.parametrize(("x", "a", "b"), [(0.6, 1, 1), (0.3, 2, 5), (0.6, 14, 3), (0.9, 91, 11), (0.05, 1, 40)])
def test_the_beta_cdf_matches_the_quantile_function(x: float, a: int, b: int) -> None:
    from crowd.consensus.reliability import beta_quantile

    assert float(beta_quantile(beta_cdf(x, a, b), a, b)) == pytest.approx(x, abs=1e-6)


def test_two_wrong_answers_block_nobody() -> None:
    eager = GoldSettings(0.1, 0, 0.1, min_gold_answers=1, min_accuracy=0.6)
    assert not should_block(eager, gold_correct=0, gold_answers=2)
    assert not should_block(SETTINGS, gold_correct=0, gold_answers=9)  # under min_gold_answers
    assert should_block(SETTINGS, gold_correct=0, gold_answers=10)


def gold_answers_until_blocked(accuracy: float, rng: random.Random, limit: int) -> int | None:
    correct = 0
    for n in range(1, limit + 1):
        correct += rng.random() < accuracy
        if should_block(SETTINGS, correct, n):
            return n
    return None


def test_a_random_spammer_is_blocked_soon_after_min_gold_answers() -> None:
    """Uniformly random labels over three classes: right a third of the time.
    With min_gold_answers 10 and min_accuracy 0.6, half are blocked by their
    13th gold answer and 99% by their 50th (1000 simulated spammers)."""
    blocked_at = [gold_answers_until_blocked(1 / 3, random.Random(seed), 50) for seed in range(1000)]
    caught = sorted(n for n in blocked_at if n is not None)
    assert len(caught) >= 985
    assert caught[0] >= SETTINGS.min_gold_answers
    assert caught[len(blocked_at) // 2] <= 15


def test_a_ninety_percent_worker_is_never_blocked() -> None:
    assert all(gold_answers_until_blocked(0.9, random.Random(seed), 200) is None for seed in range(300))


def test_gold_health_flags_a_key_that_reliable_workers_reject() -> None:
    answers = []
    for w in range(5):  # five workers right on ten other gold tasks, all rejecting g-bad
        answers += [GoldAnswer(f"g-{t}", f"w{w}", True) for t in range(10)]
        answers.append(GoldAnswer("g-bad", f"w{w}", False))
    answers += [GoldAnswer("g-bad", "sloppy", True)]
    health = {h.task: h for h in gold_health(answers, ["g-bad", *(f"g-{t}" for t in range(10))])}
    assert health["g-bad"].flags == (LIKELY_WRONG,)
    assert health["g-bad"].share_correct == pytest.approx(1 / 6)
    assert health["g-0"].flags == ()


def test_gold_health_does_not_trust_unreliable_workers_rejecting_a_key() -> None:
    answers = [GoldAnswer("g-hard", f"w{w}", False) for w in range(6)]
    assert gold_health(answers, ["g-hard"])[0].flags == ()


def test_gold_everybody_gets_right_is_too_easy() -> None:
    answers = [GoldAnswer("g-easy", f"w{w}", True) for w in range(10)]
    [health] = gold_health(answers, ["g-easy", "unseen"])[:1]
    assert health.flags == (TOO_EASY,)
    assert gold_health([], ["unseen"])[0].share_correct is None
