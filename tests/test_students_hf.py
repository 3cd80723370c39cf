"""The hf backend on a tiny real model: batching, caching and sampling mechanics."""

import pytest

from w2s.cache import ResponseCache
from w2s.students import SamplingParams
from w2s.students.hf import HFStudent

PROMPTS = [[{"role": "user", "content": f"What is {i} plus {i * 3}? Let's think step by step."}] for i in range(7)]
PROMPTS.append("raw text prompt with no chat template")


def test_batched_greedy_equals_one_at_a_time(varied_model):
    params = SamplingParams(max_tokens=12)
    one = HFStudent(str(varied_model), batch_size=1, packed_linear=False)
    many = HFStudent(str(varied_model), batch_size=5)  # also exercises the packed CPU linears
    a = [c[0].text for c in one.generate(PROMPTS, params, progress=False)]
    b = [c[0].text for c in many.generate(PROMPTS, params, progress=False)]
    assert a == b
    assert all(c[0].n_tokens <= 12 for c in many.generate(PROMPTS, params, progress=False))


def test_cache_means_nothing_is_generated_twice(tiny_model, tmp_path):
    cache = ResponseCache(tmp_path / "cache.sqlite")
    params = SamplingParams(max_tokens=8)
    s = HFStudent(str(tiny_model), batch_size=4, cache=cache)
    first = s.generate(PROMPTS, params, progress=False)
    assert (s.stats.generated, s.stats.cached) == (len(PROMPTS), 0)
    again = HFStudent(str(tiny_model), batch_size=4, cache=cache)  # a new process would see the same
    second = again.generate(PROMPTS + PROMPTS[:2], params, k=3, progress=False)  # greedy: k copies, one key
    assert again.stats.generated == 0 and [r[0].text for r in second[: len(PROMPTS)]] == [r[0].text for r in first]
    assert all(len(r) == 3 and len({c.text for c in r}) == 1 for r in second)
    # a different budget is a different request
    again.generate(PROMPTS[:1], SamplingParams(max_tokens=9), progress=False)
    assert again.stats.generated == 1


def test_sampling_gives_k_distinct_indices_reproducibly(tiny_model, tmp_path):
    params = SamplingParams(temperature=1.0, max_tokens=10, seed=7)
    s = HFStudent(str(tiny_model), batch_size=8)
    samples = s.generate(PROMPTS[:2], params, k=4, progress=False)
    assert [len(r) for r in samples] == [4, 4]
    assert len({c.text for c in samples[0]}) > 1  # a random tiny model does not repeat itself
    again = HFStudent(str(tiny_model), batch_size=8).generate(PROMPTS[:2], params, k=4, progress=False)
    assert [[c.text for c in r] for r in samples] == [[c.text for c in r] for r in again]


def test_weights_change_changes_fingerprint(tiny_model, tmp_path):
    import shutil

    from conftest import build_tiny_model

    from w2s.models import resolve_model

    copy = tmp_path / "copy"
    shutil.copytree(tiny_model, copy)
    assert resolve_model(str(copy)).fingerprint.split("@")[1] == resolve_model(str(tiny_model)).fingerprint.split("@")[1]
    build_tiny_model(copy, seed=1)
    assert resolve_model(str(copy)).fingerprint != resolve_model(str(tiny_model)).fingerprint


def test_in_memory_model_is_left_trainable(tiny_model):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    s = HFStudent(model, AutoTokenizer.from_pretrained(tiny_model), fingerprint="tiny@mem")
    s.generate(PROMPTS[:2], SamplingParams(max_tokens=4), progress=False)
    assert any(isinstance(m, torch.nn.Linear) for m in model.modules())
    assert all(p.requires_grad for p in model.parameters())


def test_continuous_batching_gives_the_static_answers_and_caches_each(varied_model, tmp_path):
    """Same greedy answers as fixed batches; every answer lands in the cache (a rerun generates nothing)."""
    params = SamplingParams(max_tokens=12)
    static = HFStudent(str(varied_model), batch_size=3)
    cache = ResponseCache(tmp_path / "cache.sqlite")
    continuous = HFStudent(str(varied_model), batching="continuous", cache=cache)
    expected = [c[0].text for c in static.generate(PROMPTS, params, progress=False)]
    got = continuous.generate(PROMPTS, params, progress=False)
    assert [c[0].text for c in got] == expected
    assert all(c[0].n_tokens <= 12 for c in got)
    assert continuous.stats.generated == len(PROMPTS)
    again = HFStudent(str(varied_model), batching="continuous", cache=cache)
    again.generate(PROMPTS, params, progress=False)
    assert again.stats.generated == 0


@pytest.mark.parametrize("batching", ["static", "continuous"])
def test_a_token_budget_stops_generation_and_keeps_what_was_generated(tiny_model, tmp_path, batching):
    from w2s.students import Budget, BudgetSpent

    cache = ResponseCache(tmp_path / "cache.sqlite")
    student = HFStudent(str(tiny_model), batch_size=1, batching=batching, cache=cache)
    student.budget = Budget(tokens=1)  # spent by the first answer
    with pytest.raises(BudgetSpent, match="student.budget.tokens=1"):
        student.generate(PROMPTS, SamplingParams(max_tokens=4), progress=False)
    assert 1 <= student.stats.generated < len(PROMPTS)
    rerun = HFStudent(str(tiny_model), batch_size=1, batching=batching, cache=cache)
    rerun.generate(PROMPTS, SamplingParams(max_tokens=4), progress=False)
    assert rerun.stats.cached == student.stats.generated  # nothing generated twice



def test_cache_keeps_precisions_apart(tiny_model, tmp_path):
    """A bf16 student's answers are not served to an fp32 student (they can differ), and vice versa."""
    cache = ResponseCache(tmp_path / "cache.sqlite")
    params = SamplingParams(max_tokens=6)
    fp32 = HFStudent(str(tiny_model), batch_size=4, cache=cache, dtype="float32")
    fp32.generate(PROMPTS[:3], params, progress=False)
    bf16 = HFStudent(str(tiny_model), batch_size=4, cache=cache, dtype="bfloat16")
    bf16.generate(PROMPTS[:3], params, progress=False)
    assert bf16.stats.generated == 3 and bf16.fingerprint != fp32.fingerprint
    again = HFStudent(str(tiny_model), batch_size=4, cache=cache, dtype="bfloat16")
    again.generate(PROMPTS[:3], params, progress=False)
    assert again.stats.generated == 0
