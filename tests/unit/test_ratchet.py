"""The ratchet rule is one function: the gate, the rollout and the release checks cannot drift apart."""

from src.gate import contract


def test_a_candidate_exactly_at_the_floor_may_replace_production():
    # 0.84 - 0.02 is 0.8199999999999998 in floats; records hold 4 decimals, so the floor is 0.82
    assert contract.ratchet_allows(0.82, 0.84, 0.02), "a candidate at the floor was refused by float noise"
    assert not contract.ratchet_allows(0.8199, 0.84, 0.02), "a candidate below the floor was let through"


def test_the_first_model_has_nothing_to_regress_against():
    assert contract.ratchet_allows(0.5, None), "with no baseline the ratchet has nothing to compare"


def test_the_gate_regression_check_uses_the_same_floor():
    check = next(c for c in contract.CHECKS if c.id == "regression")

    class Evidence:  # the two fields the regression threshold reads
        baseline_auc = 0.8590

    assert check.threshold(Evidence()) == contract.ratchet_floor(0.8590), (
        "the gate and the ratchet disagree on the floor"
    )
