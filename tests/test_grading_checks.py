"""The checks students run and the grader's judge: how answers are read, keys, the messages."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from vizlib import grading as check
from vizlib import i18n
from vizlib.grading import judge, plain
from vizlib.grading.checks import item_salt, read_key, write_key

SALT = "99_demo/q"


def keyed(*pairs: tuple[check.Item, object]) -> str:
    """A key for the items, each paired with its reference answer (as the release makes it)."""
    keys = [
        judge.make_key(item.kind, reference, item.args, item_salt(SALT, number))
        for number, (item, reference) in enumerate(pairs)
    ]
    return write_key(SALT, keys)


def verdict(item: check.Item, reference: object) -> judge.Verdict:
    """The grader's verdict on the item's value, judged as plain data against the reference."""
    salt = item_salt(SALT, 0)
    key = judge.make_key(item.kind, reference, item.args, salt)
    value = plain.decode(plain.encode(item.value))
    return judge.judge(item.kind, value, key, item.plain_args(), salt)


def fails(item: check.Item, reference: object) -> str:
    """The message of a self-check that must fail; the grader must say the same."""
    with pytest.raises(check.CheckFailed) as failure:
        check.answer("q", item, key=keyed((item, reference)))
    assert verdict(item, reference).message == str(failure.value)
    return str(failure.value)


def test_check_failed_is_an_assertion_error():
    assert issubclass(check.CheckFailed, AssertionError)


def test_passing_items_print_one_line_each(capsys):
    items = [
        (check.exact(3, "the number of traps"), 3),
        (check.choice("B", "the letter", options=["a", "b"], explanation="b it is"), "b"),
        (check.number(0.1 + 0.2, "the sum"), 0.3),
    ]
    check.answer("q", *[item for item, _ in items], key=keyed(*items))
    assert capsys.readouterr().out == (
        "✓ the number of traps: correct\n✓ the letter: correct: b it is\n✓ the sum: correct\n"
    )


def test_a_student_key_holds_no_answer_in_clear():
    item = check.mapping({}, "your classes", also={"a": ["Xen-HVM"]})
    key = keyed((item, {"a": "paravirtualization", "b": 1.0405}))
    decoded = base64.b64decode(key).decode()
    for answer in ("paravirtualization", "Xen", "xen", "1.0405"):
        assert answer not in decoded
    assert read_key(key)["salt"] == SALT


def test_without_a_key_the_instructor_copy_shows_its_reference_answers(capsys):
    check.answer("q", check.hex(0x3ABC, "the guest-physical address"))
    assert "the guest-physical address: 0x3abc (the reference answer" in capsys.readouterr().out


def test_a_wrong_answer_gets_the_hint_never_the_expected_value():
    message = fails(check.exact(5, "the number of traps", hint="did you count OUT?"), 3)
    assert message == "the number of traps: 5 is not right: did you count OUT?"


def test_answers_of_the_wrong_type_are_named():
    assert fails(check.exact("3", "the count"), 3) == (
        "the count: expected a whole number, got '3' (str)"
    )
    assert fails(check.exact(1, "whether it holds"), True) == (
        "whether it holds: expected True or False, got 1 (int)"
    )
    assert fails(check.exact("i\n", "what it printed"), b"i\n") == (
        "what it printed: expected bytes, got 'i\\n' (str)"
    )


def test_ints_and_floats_of_the_same_value_match_and_arrays_read_as_lists():
    assert verdict(check.exact(3.0, "n"), 3).passed
    assert verdict(check.exact(np.int64(7), "n"), 7).passed
    assert verdict(check.sequence(np.array([1, 2]), "xs", each="exact"), [1, 2]).passed


def test_hex_answers_are_read_in_any_base_and_shown_in_hex():
    for answer in (0x3ABC, "0x3ABC", " 0x3abc ", "15036", "0x0000_3abc"):
        assert verdict(check.hex(answer, "the address"), 0x3ABC).passed, answer
    assert fails(check.hex(0x3ABD, "the address"), 0x3ABC) == "the address: 0x3abd is not right"
    assert fails(check.hex("0x3ABD", "the address"), 0x3ABC) == "the address: 0x3abd is not right"
    assert fails(check.hex(15037, "the address"), 0x3ABC) == "the address: 0x3abd is not right"
    assert fails(check.hex("12345678", "r3"), 0x12345678) == (
        "r3: '12345678' is read as a decimal number (0xbc614e), and that is not right: write 0x... "
        "for hex"
    )
    assert fails(check.hex("3abc", "the address"), 0x3ABC) == (
        "the address: expected a whole number (0x... for hex is fine), got '3abc'"
    )
    message = fails(check.mapping({"ppc32": 0x12}, "the bytes", each="hex"), {"ppc32": 0x11})
    assert "'ppc32': 0x12 is wrong" in message


def test_numbers_are_judged_within_their_tolerance_with_a_hint_at_the_units():
    assert verdict(check.number(1.004, "the slowdown", rel=0.01), 1.0).passed
    assert fails(check.number(1500, "the cost", rel=0.01), 1200) == (
        "the cost: 1500 is not within 1% of the answer"
    )
    assert fails(check.number(0.0024, "the share", rel=0.01), 2.4) == (
        "the share: 0.0024 is off by a power of ten: check the units"
    )
    assert fails(check.number("12", "the cost"), 12.0) == (
        "the cost: expected a number, got '12' (str)"
    )


@pytest.mark.parametrize(
    ("answer", "passed"),
    [(1.0099, True), (0.9901, True), (1.0, True), (1.013, False), (0.987, False), (-1.0, False)],
)
def test_a_number_passes_within_its_tolerance_and_at_most_a_quarter_more(answer, passed):
    assert verdict(check.number(answer, "the slowdown", rel=0.01), 1.0).passed is passed


@pytest.mark.parametrize("reference", [888.566, -0.3715, 0.0, 2.5e9])
def test_a_number_key_is_hashes_that_accept_only_the_neighbourhood_of_the_answer(reference):
    salt = item_salt(SALT, 0)
    for args in ({"rel": 0.01}, {"abs": 0.5}, {"rel": 0.001, "abs": 0.01}):
        key = judge.make_key("number", reference, args, salt)
        assert set(key) == {"h"} and all(len(h) == 16 for h in key["h"])
        tolerance = max(args.get("rel", 1e-6) * abs(reference), args.get("abs", 0))
        inside, outside = reference + 0.9 * tolerance, reference + 1.3 * tolerance + 1e-12
        for answer, passed in ((reference, True), (inside, True), (outside, False)):
            got = judge.judge("number", answer, key, {"what": "x", **args}, salt).passed
            assert got is passed, (args, answer)


def test_a_choice_may_be_answered_in_the_learners_language():
    words = i18n.translations("zh")
    option = next(o for o in words if o.startswith("a TLB flush"))
    other = "a page walk"
    item = check.choice(words[option], "what VPID saves", [option, other])
    assert verdict(item, option).passed
    with i18n.use("zh"):
        shown = i18n._("{text} ({translation})", text=option, translation=words[option])
    assert verdict(check.choice(shown, "what VPID saves", [option, other]), option).passed
    assert not verdict(item, other).passed


def test_text_ignores_case_spaces_punctuation_and_hyphens():
    for answer in ("Type-1", " type 1 ", "TYPE  1.", "type_1"):
        assert verdict(check.choice(answer, "the type", ["type 1", "type 2"]), "type 1").passed
    assert verdict(check.text("kvm.ko", "the module"), "KVM.KO").passed
    assert not verdict(check.text("kvm ko", "the module"), "/dev/kvm").passed
    words = {"unprivileged": "not privileged", "but": ""}
    item = check.text("**Sensitive, but unprivileged**", "the class", words=words)
    assert verdict(item, "sensitive, not privileged").passed


def test_text_accepts_the_alternatives_the_instructor_allows():
    assert verdict(check.text("Xen", "the hypervisor", also=["Xen"]), "KVM").passed
    assert not verdict(check.text("QEMU", "the hypervisor", also=["Xen"]), "KVM").passed


def test_choice_explains_answers_outside_the_options():
    options = ["a", "b", "c"]
    assert fails(check.choice("x", "the letter", options), "b") == (
        "the letter: 'x' is not one of: 'a', 'b', 'c'"
    )
    assert fails(check.choice(None, "the letter", options), "b").startswith(
        "the letter: you have not chosen an answer yet"
    )


def test_mapping_counts_its_keys_right_and_names_no_right_value():
    expected = {"popf": "sensitive", "sgdt": "sensitive", "nop": "innocuous"}
    answer = {"popf": "privileged", "nop": "innocuous", "hlt": "x", "cli": "y", "in": "z"}
    message = fails(check.mapping(answer, "your classification"), expected)
    assert message == (
        "your classification: 2 of 3 answers need another look: 'popf': 'privileged' is wrong; "
        "'sgdt' is missing; 'hlt' was not asked for; 'cli' was not asked for; 'in' was not asked "
        "for"
    )
    assert "sensitive" not in message
    assert fails(check.mapping(["popf"], "the classes"), expected) == (
        "the classes: expected a dict like {'popf': ...}, got ['popf'] (list)"
    )


def test_mapping_gives_partial_credit_per_key():
    expected = {f"s{n}": "emulation" for n in range(6)}
    answer = {**expected, "s4": "wrong", "s5": "wrong"}
    assert verdict(check.mapping(answer, "the scenarios"), expected) == judge.Verdict(
        4,
        6,
        "the scenarios: 2 of 6 answers need another look: 's4': 'wrong' is wrong; "
        "'s5': 'wrong' is wrong",
    )


def test_items_name_wrong_and_repeated_ones_and_count_the_missing():
    expected = ["popf", "sgdt", "smsw"]
    assert fails(check.items(["POPF", "mov"], "the traps"), expected) == (
        "the traps: 'mov' should not be in the list"
    )
    assert fails(check.items(["popf", "popf"], "the traps"), expected) == (
        "the traps: 'popf' listed more than once"
    )
    assert fails(check.items(["popf"], "the traps"), expected) == (
        "the traps: every item you listed is right, but some are missing"
    )
    assert fails(check.items("popf", "the traps"), expected) == (
        "the traps: expected a list, got 'popf' (str)"
    )


def test_sequence_names_the_positions_that_are_wrong():
    expected = ["nova-api", "nova-scheduler", "nova-compute"]
    message = fails(
        check.sequence(["nova-api", "nova-compute", "nova-scheduler"], "the path"), expected
    )
    assert message == "the path: the items at positions 2, 3 are not right"


def test_order_accepts_every_order_that_keeps_the_constraints():
    before = [(["open"], ["create", "run"], "open first"), (["create"], ["run"], "create first")]
    item = check.order(["open", "create", "run"], "your steps", before=before)
    key = keyed((item, ["open", "create", "run"]))
    check.answer("q", check.order(["OPEN", "create", "run"], "your steps"), key=key)
    with pytest.raises(check.CheckFailed, match="your steps: create first"):
        check.answer("q", check.order(["open", "run", "create"], "your steps"), key=key)


def test_calls_run_the_code_on_the_key_inputs_and_show_the_input(capsys):
    reference = {"inputs": [[2], [-3]], "outputs": [4, -6]}
    key = keyed((check.calls(None, "double", probe="call", examples=[[2], [-3]]), reference))
    check.answer("q", check.calls(lambda x: x + x, "double", "call", [[2], [-3]]), key=key)
    assert capsys.readouterr().out == "✓ double: correct\n"
    with pytest.raises(check.CheckFailed) as failure:
        check.answer("q", check.calls(lambda x: x * x, "double", "call", [[2], [-3]]), key=key)
    assert str(failure.value) == "double: wrong for 1 of 2 inputs: for [-3] it gave 9"


def test_own_machine_is_judged_against_the_evidence_of_the_same_machine():
    assert judge.judge("own_machine", (True, True), {}, {"what": "w"}, "s").passed
    assert not judge.judge("own_machine", (True, False), {}, {"what": "w"}, "s").passed
    missing = judge.judge("own_machine", plain.Missing("no record"), {}, {"what": "w"}, "s")
    assert "run the check cell of this question on your machine" in missing.message


def test_plain_data_keeps_no_methods_of_its_own():
    class Anything(str):
        def __eq__(self, other):
            return True

        __hash__ = str.__hash__

    data = plain.encode({"a": Anything("x"), "b": [b"\x00", {1, 2}, float("nan")]})
    decoded = plain.decode(json.loads(json.dumps(data)))
    assert type(decoded["a"]) is str and decoded["a"] != "y"
    assert decoded["b"][0] == b"\x00" and decoded["b"][1] == frozenset({1, 2})
    with pytest.raises(plain.NotPlain, match="use numbers, text"):
        plain.encode(object())
    with pytest.raises(ValueError, match="NaN"):
        plain.loads('{"x": NaN}')
    with pytest.raises(ValueError, match="unknown tag"):
        plain.decode({"$code": "x"})


def test_a_damaged_key_or_an_edited_check_cell_says_to_copy_the_cell_again():
    with pytest.raises(ValueError, match="copy it again from the exercise as released"):
        check.answer("q", check.exact(1, "x"), key="not base64!")
    key = keyed((check.exact(1, "x"), 1))
    with pytest.raises(ValueError, match="copy it again from the exercise as released"):
        check.answer("q", check.exact(1, "x"), check.exact(2, "y"), key=key)
