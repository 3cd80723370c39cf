"""Reward models: score a reply to a chat (the grader of open-ended tasks).

`RewardModel` loads any Hugging Face sequence-classification reward model (hub id, folder or
pack name), scores (chat, reply) pairs in batches on CPU or GPU, and caches every score in the
response cache (a pair scored once is never scored again). It is a scoring component below the
tasks (`hh_rlhf` grades with it); training and checking one are the `w2s rm` commands
(`w2s.commands.rm`). With no hub, the model `w2s rm train` writes is `hh_rlhf`'s default grader;
with the hub, any reward model can be named instead.
"""

from __future__ import annotations

import json
from pathlib import Path

from tqdm.auto import tqdm

from w2s.cache import ResponseCache, stable_key
from w2s.devices import resolve_device, torch_dtype
from w2s.errors import W2SError
from w2s.paths import default_cache_path, w2s_home


def default_reward_model() -> Path:
    """Where `w2s rm train` puts its model unless told otherwise; the offline default grader."""
    path = w2s_home() / "reward-models" / "hh_rlhf"
    if not (path / "config.json").is_file():
        raise W2SError(f"no reward model at {path}: train one offline with `w2s rm train`, or name one with "
                       "--task 'hh_rlhf?reward_model=HUB_ID_OR_FOLDER'")
    return path


def render(tokenizer, chat: list[dict], reply: str) -> str:
    """The chat plus the reply as the reward model reads it: its chat template, else HH-RLHF's format."""
    messages = [*chat, {"role": "assistant", "content": reply}]
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages, tokenize=False)
    return "".join(f"\n\n{'Human' if m['role'] == 'user' else 'Assistant'}: {m['content']}" for m in messages)


class RewardModel:
    """A sequence-classification reward model: one scalar per (chat, reply), batched and cached."""

    def __init__(self, name: str | Path, batch_size: int = 8, device: str = "auto", dtype: str = "auto",
                 cache: ResponseCache | None = None, max_length: int = 1024) -> None:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        from w2s.models import resolve_model

        source = resolve_model(str(name))
        self.device = resolve_device(device)
        architectures = _architectures(source.path)
        if architectures and not any(a.endswith("ForSequenceClassification") for a in architectures):
            raise W2SError(f"{source.path}: a {', '.join(architectures)} is not a reward model (its scoring head would "
                           "be random); name a sequence-classification reward model or train one with `w2s rm train`")
        try:
            self.model = AutoModelForSequenceClassification.from_pretrained(
                source.path, dtype=torch_dtype(dtype, self.device)).to(self.device).eval()
            self.tokenizer = AutoTokenizer.from_pretrained(source.path)
        except Exception as err:  # noqa: BLE001 - one line naming the folder
            first = (str(err).strip().splitlines() or [""])[0][:200]
            raise W2SError(f"{source.path}: cannot load it as a sequence-classification reward model "
                           f"({type(err).__name__}: {first})") from None
        if getattr(self.model.config, "num_labels", 1) != 1:
            raise W2SError(f"{source.path}: a reward model has one output (num_labels=1), this one has "
                           f"{self.model.config.num_labels}: it is a classifier, not a reward model")
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model.config.pad_token_id = self.tokenizer.pad_token_id
        self.tokenizer.padding_side = "right"
        # a text over max_length loses its oldest turns, not its end: the end is the reply being
        # scored (cut from the right, every reply to a long chat would score the same)
        self.tokenizer.truncation_side = "left"
        self.name, self.fingerprint = str(name), f"rm:{source.fingerprint}"
        self.batch_size, self.max_length = batch_size, max_length
        self.cache = cache if cache is not None else ResponseCache(default_cache_path())
        self.scored = 0  # pairs really scored (not from the cache)

    def score(self, chats: list[list[dict]], replies: list[str]) -> list[float]:
        """The reward of each reply to its chat, in order."""
        import torch

        # how a text is cut is part of the key: a reply cut at 512 tokens scores differently at 1024
        keys = [stable_key({"model": self.fingerprint, "chat": c, "reply": r, "kind": "reward",
                            "max_length": self.max_length, "truncation": "left"})
                for c, r in zip(chats, replies, strict=True)]
        found = {k: v for k, (v, _) in self.cache.get_scores(keys).items()}
        todo = list(dict.fromkeys(k for k in keys if k not in found))
        pairs = dict(zip(keys, zip(chats, replies, strict=True), strict=True))
        # each text is tokenized once, then batched longest first, so a batch holds texts of similar
        # length: HH-RLHF chats run from a line to ~1,000 tokens, and in arrival order most of a
        # batch would be padding
        ids: dict[str, list[int]] = {}
        if todo:
            encoded = self.tokenizer([render(self.tokenizer, *pairs[k]) for k in todo], truncation=True,
                                     max_length=self.max_length, add_special_tokens=False)["input_ids"]
            ids = dict(zip(todo, encoded, strict=True))
            todo.sort(key=lambda k: -len(ids[k]))
        bar = tqdm(total=len(todo), desc=f"reward model ({Path(self.name).name})", unit="reply", leave=False,
                   dynamic_ncols=True, disable=not todo)
        for start in range(0, len(todo), self.batch_size):
            batch = todo[start:start + self.batch_size]
            inputs = self.tokenizer.pad({"input_ids": [ids[k] for k in batch]}, return_tensors="pt").to(self.device)
            with torch.inference_mode():
                values = self.model(**inputs).logits[:, 0].float().tolist()
            found.update(zip(batch, values, strict=True))
            self.cache.put_scores(self.fingerprint, [(k, v, 0) for k, v in zip(batch, values, strict=True)])
            self.scored += len(batch)
            bar.update(len(batch))
        bar.close()
        return [found[k] for k in keys]


def _architectures(folder: Path) -> list[str]:
    try:
        return list(json.loads((Path(folder) / "config.json").read_text()).get("architectures") or [])
    except (OSError, ValueError):
        return []
