import pytest

from w2s.graders import MathGrader, NumericGrader, last_boxed, parse_number

numeric = NumericGrader()
maths = MathGrader()


@pytest.mark.parametrize(
    "response, expected",
    [
        ("She makes 9 * 2 = $18 every day.\n#### 18", "18"),
        ("So the total is 1,000 apples. The answer is 1,000.", "1000"),
        ("The answer is: $18.00", "18"),
        ("Thus we get \\boxed{42}.", "42"),
        ("**The answer is 7 dollars.**", "7"),
        ("The final answer is \\boxed{\\$1,250}", "1250"),
        ("I think it costs 5 dollars, no wait, 6 dollars", "6"),  # flexible: last number
        ("The answer is -3.5 degrees", "-3.5"),
        ("\\boxed{\\frac{1}{2}}", "0.5"),
    ],
)
def test_numeric_extraction(response, expected):
    assert numeric.extract(response) == expected


def test_numeric_strict_needs_a_marked_answer():
    assert numeric.extract("It costs 5 dollars", strict=True) is None
    assert numeric.extract("It costs 5 dollars") == "5"
    grade = numeric.grade("first 3 then 4 so 12", "12")
    assert grade.correct and not grade.strict_correct and grade.strict_pred is None


def test_marked_answer_beats_later_numbers():
    # The last *marked* answer wins over trailing numbers (e.g. a check line after it).
    assert numeric.extract("#### 18\nCheck: 16 - 3 - 4 = 9 eggs") == "18"
    assert numeric.extract("The answer is 5. \\boxed{6}") == "6"


@pytest.mark.parametrize("pred, gold, same", [
    ("1,000", "1000", True), ("$18.00", "18", True), ("18", "18.0", True), ("0.5", "1/2", False),
    ("17", "18", False), (None, "18", False), ("", "3", False),
    # GSM8K answers are exact: no relative tolerance (it once graded 1000001 equal to 1000000)
    ("1000001", "1000000", False), ("10000009", "10000000", False), ("2000001", "2000000", False),
    ("0.1000001", "0.1", False), ("1000000.0", "1,000,000", True), ("-3", "3", False),
])
def test_numeric_equivalence(pred, gold, same):
    assert numeric.equivalent(pred, gold) is same


def test_parse_number_handles_units_and_trailing_period():
    assert parse_number("$1,234.50.") == parse_number("1234.5")
    assert parse_number("25 cm") == 25
    assert parse_number("no digits") is None


def test_last_boxed_balances_braces():
    assert last_boxed("a \\boxed{1} b \\boxed{\\frac{1}{2}} c") == "\\frac{1}{2}"
    assert last_boxed("\\boxed{\\left( 3, \\frac{\\pi}{2} \\right)}.") == "\\left( 3, \\frac{\\pi}{2} \\right)"
    assert last_boxed("\\boxed 5") == "5"
    assert last_boxed("no box") is None
    assert last_boxed("\\boxed{unclosed") is None


@pytest.mark.parametrize("pred, gold", [
    ("\\frac{1}{2}", "0.5"),
    ("(3,\\pi/2)", "\\left( 3, \\frac{\\pi}{2} \\right)"),
    ("1000", "1,000"),
    ("\\dfrac{3}{4}", "\\frac34"),
    ("\\sqrt{8}", "2\\sqrt{2}"),
    ("x^2+1", "1+x^2"),
])
def test_math_equivalent_through_math_verify(pred, gold):
    assert maths.equivalent(pred, gold)


@pytest.mark.parametrize("pred, gold", [("\\frac{1}{3}", "0.5"), ("(3,\\pi)", "(3,\\pi/2)"), ("", "1"), (None, "1")])
def test_math_not_equivalent(pred, gold):
    assert not maths.equivalent(pred, gold)


def test_math_strict_vs_flexible():
    response = "Converting, we get $(3, \\pi/2)$. The answer is $(3,\\frac{\\pi}{2})$."
    grade = maths.grade(response, "\\left( 3, \\frac{\\pi}{2} \\right)")
    assert grade.strict_pred is None and not grade.strict_correct
    assert grade.pred == "(3,\\frac{\\pi}{2})" and grade.correct
    boxed = maths.grade("so \\boxed{\\frac{1}{2}}", "0.5")
    assert boxed.strict_correct and boxed.correct


def test_math_grading_is_safe_in_threads():
    from concurrent.futures import ThreadPoolExecutor

    pairs = [("\\frac{1}{2}", "0.5"), ("\\frac{1}{3}", "0.5")] * 4
    with ThreadPoolExecutor(4) as pool:
        verdicts = list(pool.map(lambda p: MathGrader().equivalent(p[0] + " ", p[1]), pairs))
    assert verdicts == [True, False] * 4


def test_same_answer_requires_both_answers():
    assert numeric.same_answer("The answer is 12", "#### 12.0")
    assert not numeric.same_answer("no number here", "no number either")
    assert not numeric.same_answer("The answer is 12", "The answer is 13")


def test_a_fraction_with_thousands_of_digits_is_graded_not_a_crash():
    from w2s.tasks import get_task

    grader = get_task("gsm8k").grader
    assert not grader.grade("The answer is \\frac{1}{" + "9" * 5000 + "}", "3").correct
    assert grader.grade("The answer is \\frac{6}{2}", "3").correct
