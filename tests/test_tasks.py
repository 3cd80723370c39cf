import json

import pytest
from conftest import shared_data_or_skip

from w2s.errors import W2SError
from w2s.tasks import get_task


def test_gsm8k_local_train_format(gsm_file):
    examples = get_task("gsm8k").load("train", str(gsm_file))
    assert len(examples) == 12
    first = examples[0]
    assert (first.id, first.answer) == ("q1", "2") and first.solution.endswith("#### 2")


def test_limit_and_seed_pick_a_reproducible_sample(gsm_file):
    task = get_task("gsm8k")
    a = [e.id for e in task.load("train", str(gsm_file), limit=5, seed=3)]
    b = [e.id for e in task.load("train", str(gsm_file), limit=5, seed=3)]
    other = [e.id for e in task.load("train", str(gsm_file), limit=5, seed=4)]
    first = [f"q{i}" for i in range(1, 6)]
    assert a == b and len(set(a)) == 5
    assert a != first and other != a  # the seed shuffles (ignoring it would give the file's first five)
    assert [e.id for e in task.load("train", str(gsm_file), limit=3)] == ["q1", "q2", "q3"]


def test_offset_skips_questions_after_the_shuffle(gsm_file):
    task = get_task("gsm8k")
    assert [e.id for e in task.load("train", str(gsm_file), limit=2, offset=10)] == ["q11", "q12"]
    shuffled = [e.id for e in task.load("train", str(gsm_file), seed=3)]
    assert [e.id for e in task.load("train", str(gsm_file), limit=3, offset=4, seed=3)] == shuffled[4:7]
    with pytest.raises(W2SError, match="offset 12 skips all 12 questions"):
        task.load("train", str(gsm_file), offset=12)


def test_a_registered_task_is_built_by_name_with_its_parameters():
    from w2s.graders import NumericGrader
    from w2s.tasks import TASKS, Example, Task, register_task

    class Counting(Task):
        grader = NumericGrader()

        def __init__(self, spec: str) -> None:
            self.name, self.upto = spec, int(spec.partition("?upto=")[2] or 3)

        @classmethod
        def from_spec(cls, spec):
            return cls(spec)

        def _load_all(self, split, data):
            return [Example(str(i), f"Count to {i}.", str(i)) for i in range(1, self.upto + 1)]

        def example_from_row(self, row, where, index):
            raise NotImplementedError

    try:
        register_task("counting", Counting)
        assert [e.answer for e in get_task("counting?upto=5").load("test")] == ["1", "2", "3", "4", "5"]
        register_task("doubled", lambda spec: Counting("counting?upto=2"))  # a factory taking the spec
        assert len(get_task("doubled").load("test")) == 2
        register_task("lazy", "w2s.tasks.gsm8k:GSM8K")  # "module:attr", imported when asked for
        assert get_task("lazy").name == "gsm8k"
        with pytest.raises(W2SError, match="gsm8k takes no parameters"):
            get_task("gsm8k?subset=x")
        with pytest.raises(W2SError, match=r"without \? : & ="):
            register_task("a?b", Counting)
    finally:
        for name in ("counting", "doubled", "lazy"):
            TASKS.pop(name, None)


def test_folder_with_split_files(tmp_path, gsm_file):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "test.jsonl").write_text(gsm_file.read_text())
    assert len(get_task("gsm8k").load("test", str(tmp_path / "data"))) == 12
    with pytest.raises(W2SError, match="no train_2.jsonl in this folder"):
        get_task("gsm8k").load("train_2", str(tmp_path / "data"))


@pytest.mark.parametrize("content, message", [
    ('{"question": "q", "answer": "1"}\n{not json}\n', r"bad\.jsonl:2: invalid JSON"),
    ('{"question": "q"}\n', r"bad\.jsonl:1: missing field 'answer' \(fields present: question\)"),
    ('[1, 2]\n', r"bad\.jsonl:1: expected a JSON object"),
    ('\n\n', "is empty"),
])
def test_bad_data_gives_one_line_errors(tmp_path, content, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(W2SError, match=message):
        get_task("gsm8k").load("test", str(path))


def test_unknown_task_and_missing_file():
    with pytest.raises(W2SError, match="unknown task 'gsm9k'"):
        get_task("gsm9k")
    with pytest.raises(W2SError, match="no such file"):
        get_task("gsm8k").load("test", "./missing.jsonl")


def test_hub_failure_is_one_clear_line(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no shared/data here, so the hub is tried (and is offline)
    monkeypatch.delenv("W2S_DATA_DIR", raising=False)
    with pytest.raises(W2SError, match="could not load split 'test' of 'HuggingFaceH4/MATH-500'.*--data"):
        get_task("math500").load("test")


def test_math500_row_without_answer_uses_boxed_solution(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text(json.dumps({"problem": "p", "solution": "so $\\boxed{\\frac{1}{2}}$"}) + "\n")
    assert get_task("math500").load("test", str(path))[0].answer == "\\frac{1}{2}"


def test_shared_reference_data_loads_as_is():
    root = shared_data_or_skip()
    gsm = get_task("gsm8k")
    test = gsm.load("test", str(root / "gsm8k" / "test.jsonl"))
    assert len(test) == 1319 and test[0].answer == "18"
    train_2 = gsm.load("train_2", str(root / "gsm8k"), limit=5)
    assert all(e.solution and "####" in e.solution for e in train_2)
    math = get_task("math500").load("test", str(root / "math500"))
    assert len(math) == 500 and math[0].answer.startswith("\\left( 3")


def test_gsm_symbolic_is_generated_offline_without_overlap():
    task = get_task("gsm_symbolic")
    test = task.load("test", limit=200)
    train = task.load("train")
    assert len(test) == 200 and all(e.answer.lstrip("-").replace(".", "").isdigit() for e in test)
    assert not {e.question for e in task.load("test")} & {e.question for e in train}


def test_sft_targets_end_in_the_format_the_grader_reads_strictly():
    from w2s.tasks import Example, get_task

    gsm = get_task("gsm8k")
    example = Example("1", "q", "5", "Half of 100 is 100 / 2 = $<<100/2=50>>50.\nSo 5 more.\n#### 5")
    target = gsm.target_text(example)
    assert target == "Half of 100 is 100 / 2 = $50.\nSo 5 more.\nThe final answer is $\\boxed{5}$."
    assert gsm.grader.grade(target, "5").strict_correct
    math = get_task("math500")
    assert math.target_text(Example("2", "q", "3", "So $x=\\boxed{3}$.")) == "So $x=\\boxed{3}$."
    assert math.target_text(Example("3", "q", "\\frac{1}{2}")) == "The final answer is $\\boxed{\\frac{1}{2}}$."
