"""Teacher-forced scoring: exact against a plain full forward pass, cached, and refused where impossible."""

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from w2s.cache import ResponseCache
from w2s.errors import W2SError
from w2s.students.hf import HFStudent
from w2s.students.scripted import ScriptedStudent


def reference_logprob(folder, prompt_text: str, target: str) -> float:
    """Sum of log p(target token | everything before it), from one unbatched full-vocabulary forward."""
    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    head = tok(prompt_text, add_special_tokens=False)["input_ids"]
    tail = tok(target, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = model(torch.tensor([head + tail])).logits[0]
    logprobs = torch.log_softmax(logits, dim=-1)
    return sum(float(logprobs[len(head) - 1 + j, t]) for j, t in enumerate(tail))


def test_hf_scores_match_an_unbatched_forward_and_are_cached(tiny_model, tmp_path):
    cache = ResponseCache(tmp_path / "c.sqlite")
    student = HFStudent(str(tiny_model), batch_size=2, cache=cache)
    prompts = [[{"role": "user", "content": "What is 2 plus 2?"}],
               [{"role": "system", "content": "Be careful."}, {"role": "user", "content": "What is 2 plus 2?"}],
               [{"role": "user", "content": "A train travels 60 miles per hour for 2 hours."}]]
    targets = ["2 + 2 = 4. The answer is 4.", "The answer is 4.", "It travels 120 miles. #### 120"]
    scores = student.score(prompts, targets)
    for prompt, target, score in zip(prompts, targets, scores, strict=True):
        expected = reference_logprob(tiny_model, student.render(prompt), target)
        assert score.logprob == pytest.approx(expected, abs=1e-3)
        assert score.n_tokens == len(student.tokenizer(target, add_special_tokens=False)["input_ids"])
        assert score.mean == pytest.approx(score.logprob / score.n_tokens)
    again = HFStudent(str(tiny_model), batch_size=2, cache=cache)
    assert [s.logprob for s in again.score(prompts, targets)] == [s.logprob for s in scores]
    assert again.stats.scored == 0 and again.stats.cached == 3


def test_a_student_that_cannot_score_says_so_in_one_line():
    with pytest.raises(W2SError, match="cannot score text"):
        ScriptedStudent(lambda p, i: "").score(["q"], ["a"])


def test_targets_after_the_same_input_share_one_forward_pass(tiny_model):
    """A judge's "A" and "B" after one prompt are read from one pass, and score exactly as alone."""
    student = HFStudent(str(tiny_model), batch_size=8)
    prompt = [{"role": "user", "content": "Which reply is better? Answer A or B."}]
    rows = []
    decoder = student.model.get_decoder()
    original = decoder.forward

    def counting(*args, **kwargs):
        rows.append(kwargs["input_ids"].shape[0])
        return original(*args, **kwargs)

    decoder.forward = counting
    targets = ["A", "B", "A longer reply.", ""]
    scores = student.score([prompt] * 4, targets)
    assert sum(rows) == 2  # "A" and "B" share the prompt as input; the longer target needs its own
    for target, score in zip(targets[:3], scores, strict=False):
        assert score.logprob == pytest.approx(reference_logprob(tiny_model, student.render(prompt), target), abs=1e-3)
    assert (scores[3].logprob, scores[3].n_tokens) == (0.0, 0)
