"""The check helpers students run: their pass lines and the words of their failures."""

from __future__ import annotations

import numpy as np
import pytest

from vizlib import grading as check


def fails(call, *args, **kwargs) -> str:
    """The CheckFailed message of a call that must fail."""
    with pytest.raises(check.CheckFailed) as failure:
        call(*args, **kwargs)
    return str(failure.value)


def test_check_failed_is_an_assertion_error():
    assert issubclass(check.CheckFailed, AssertionError)
    assert check.CheckFailed is not AssertionError


def test_passing_checks_print_one_short_line(capsys):
    check.equal(3, 3, what="the number of traps")
    check.equal(3.0, 3)
    check.close(0.1 + 0.2, 0.3)
    check.choice("b", "b", options=["a", "b"])
    check.same_items(["y", "x"], ["x", "y"])
    check.mapping({"a": 1}, {"a": 1}, what="the classes")
    check.true(1 < 2, "one is not below two")
    assert capsys.readouterr().out == (
        "✓ the number of traps: correct\n✓ correct\n✓ correct\n✓ correct\n✓ correct\n"
        "✓ the classes: correct\n✓ correct\n"
    )


def test_equal_says_what_was_expected_and_the_hint():
    message = fails(check.equal, 5, 3, what="the number of traps", hint="did you count OUT?")
    assert message == "expected the number of traps to be 3, got 5: did you count OUT?"
    assert fails(check.equal, "3", 3) == "expected the answer to be 3, got '3'"


def test_equal_names_types_when_values_look_alike():
    class Three:
        def __repr__(self):
            return "3"

    assert fails(check.equal, Three(), 3) == "expected the answer to be 3 (int), got 3 (Three)"


def test_equal_compares_arrays_as_a_whole(capsys):
    check.equal(np.arange(3), np.array([0, 1, 2]))
    assert capsys.readouterr().out == "✓ correct\n"
    assert fails(check.equal, np.arange(3), np.arange(4)).startswith("expected the answer to be")


def test_long_values_are_cut_in_messages():
    message = fails(check.equal, list(range(100)), [])
    assert message.endswith("...") and len(message) < 140


def test_close_reports_how_far_off_and_the_tolerance():
    message = fails(check.close, 1500, 1200, rel=0.01, what="the exit cost")
    assert (
        message == "expected the exit cost to be close to 1200, got 1500 (25.0% off, allowed: 1%)"
    )
    assert fails(check.close, 1.0, 0.0, abs=0.5).endswith("got 1 (allowed: 0.0001% or 0.5)")
    check.close(1.004, 1.0, rel=0.01)
    check.close(0.4, 0.0, abs=0.5)


def test_close_wants_a_number():
    assert fails(check.close, "12", 12) == "expected the answer to be a number, got '12' (str)"
    assert fails(check.close, True, 1) == "expected the answer to be a number, got True (bool)"


def test_choice_explains_answers_outside_the_options():
    options = ["a", "b", "c"]
    assert (
        fails(check.choice, "x", "b", options=options) == "your answer 'x' is not one of: a, b, c"
    )
    assert fails(check.choice, None, "b", options=options).startswith("you have not chosen")
    assert fails(check.choice, "a", "b", options, hint="think of rings") == (
        "'a' is not the right choice: think of rings"
    )


def test_choice_ignores_case_and_spaces_and_shows_the_explanation(capsys):
    check.choice(" Paravirtualization ", "paravirtualization", ["full", "paravirtualization"],
                 explanation="the guest kernel is modified")  # fmt: skip
    assert capsys.readouterr().out == "✓ correct: the guest kernel is modified\n"


def test_choice_refuses_a_correct_answer_outside_its_options():
    with pytest.raises(ValueError, match="correct='d' must be one of options"):
        check.choice("a", "d", options=["a", "b"])


def test_same_items_names_missing_and_extra_items():
    message = fails(check.same_items, ["popf", "mov"], ["popf", "sgdt", "smsw"], what="the traps")
    assert message == "the traps: missing 'sgdt', 'smsw'; not expected: 'mov'"
    assert fails(check.same_items, ["a", "a"], ["a"]) == "the items: not expected: 'a'"


def test_same_items_wants_a_collection():
    assert fails(check.same_items, "popf", ["popf"]) == (
        "expected the items as a list of items, got 'popf' (str)"
    )
    assert "got 3 (int)" in fails(check.same_items, 3, [3])


def test_mapping_names_each_wrong_key_without_the_right_value():
    expected = {"popf": "sensitive", "sgdt": "sensitive", "nop": "innocuous"}
    answer = {"popf": "privileged", "nop": "innocuous", "hlt": "privileged"}
    message = fails(check.mapping, answer, expected, what="your classification")
    assert message == (
        "your classification: 3 of 3 keys need another look: 'popf': 'privileged' is wrong; "
        "'sgdt' is missing; 'hlt' was not asked for"
    )
    assert "sensitive" not in message
    assert fails(check.mapping, ["popf"], expected) == (
        "expected the answer as a dict like {'popf': ...}, got ['popf'] (list)"
    )


def test_true_uses_the_given_message():
    assert fails(check.true, 0, "the guest should trap on OUT") == "the guest should trap on OUT"


def test_defined_returns_the_value_or_says_to_run_the_answer_cell(capsys):
    assert check.defined("traps", {"traps": 3}) == 3
    assert capsys.readouterr().out == ""
    assert fails(check.defined, "traps", {}) == (
        "you have not defined `traps` yet: run your answer cell (and check the spelling of `traps`)"
    )
