"""Label masks and truncation, with SmolLM2's tokenizer and the real Qwen2.5 tokenizer."""
import csv
from pathlib import Path

from batching import IGNORE
from dataset import tokenize_example
from prompting import end_of_turn_id

SYSTEM = "You are a caring friend."
CONV = [{"role": "user", "content": "I lost my job today."},
        {"role": "assistant", "content": "Oh no, I'm so sorry. That's a shock."},
        {"role": "user", "content": "I don't know what to tell my family."},
        {"role": "assistant", "content": "That sounds heavy. Want to think it through together?"}]


def test_qwen_tokenizer_matches_the_published_ids(qwen_tok):
    assert qwen_tok("Hello world", add_special_tokens=False).input_ids == [9707, 1879]
    assert qwen_tok.convert_tokens_to_ids("<|im_start|>") == 151644
    assert qwen_tok.convert_tokens_to_ids("<|im_end|>") == 151645
    assert qwen_tok.pad_token == "<|endoftext|>"
    assert qwen_tok.pad_token_id != end_of_turn_id(qwen_tok)


def test_pad_is_not_the_end_of_turn_token(any_tok):
    assert any_tok.pad_token_id is not None
    assert any_tok.pad_token_id != end_of_turn_id(any_tok)


def test_supervised_tokens_decode_to_reply_plus_end_of_turn(any_tok):
    eot = end_of_turn_id(any_tok)
    ex = tokenize_example(CONV, any_tok, SYSTEM, 512, eot)
    sup = [t for t, l in zip(ex["input_ids"], ex["labels"]) if l != IGNORE]
    assert any_tok.decode(sup) == CONV[-1]["content"] + any_tok.convert_ids_to_tokens(eot)
    assert sup[-1] == eot


def test_every_prompt_token_is_masked_and_prompt_is_the_chat_template(any_tok):
    ex = tokenize_example(CONV, any_tok, SYSTEM, 512, end_of_turn_id(any_tok))
    n = ex["prompt_length"]
    assert all(l == IGNORE for l in ex["labels"][:n])
    assert all(l != IGNORE for l in ex["labels"][n:])
    expected = any_tok.apply_chat_template([{"role": "system", "content": SYSTEM}] + CONV[:-1],
                                           tokenize=False, add_generation_prompt=True)
    assert any_tok.decode(ex["input_ids"][:n]) == expected
    assert SYSTEM in expected  # explicit system prompt, never the template's default


def test_classification_only_example_has_no_supervised_token(any_tok):
    ex = tokenize_example([{"role": "user", "content": "This bus is late again."}], any_tok,
                          SYSTEM, 512, end_of_turn_id(any_tok))
    assert ex["input_ids"] and all(l == IGNORE for l in ex["labels"])
    assert ex["prompt_length"] == len(ex["input_ids"])


def test_truncation_drops_oldest_turns_and_keeps_the_target(any_tok):
    eot = end_of_turn_id(any_tok)
    full = tokenize_example(CONV, any_tok, SYSTEM, 512, eot)
    short = tokenize_example(CONV, any_tok, SYSTEM, len(full["input_ids"]) - 1, eot)
    assert short["drop_reason"] == "" and short["truncated_turns"] == 2
    assert len(short["input_ids"]) < len(full["input_ids"])
    sup_full = [t for t, l in zip(full["input_ids"], full["labels"]) if l != IGNORE]
    sup_short = [t for t, l in zip(short["input_ids"], short["labels"]) if l != IGNORE]
    assert sup_full == sup_short
    prompt = any_tok.decode(short["input_ids"][:short["prompt_length"]])
    assert "I lost my job" not in prompt and "what to tell my family" in prompt


def test_target_that_cannot_fit_is_dropped(any_tok):
    ex = tokenize_example(CONV, any_tok, SYSTEM, 20, end_of_turn_id(any_tok))
    assert ex["drop_reason"] == "too_long" and ex["input_ids"] == []


def _linear_fit(history, tok, system, budget):
    """The earlier algorithm: try every cut point in order, first fit wins."""
    from prompting import cut_points, render_ids, with_system
    for start in cut_points(history):
        ids = render_ids(tok, with_system(system, history[start:]))
        if len(ids) <= budget:
            return start, ids
    return None


def test_binary_search_truncation_equals_trying_every_cut_on_all_fixture_examples(any_tok):
    """fit_history's binary search lands on the same cut (and ids) as the linear scan, for
    every ED/ESConv fixture example at budgets that cut nothing, some and everything."""
    import json
    import os

    from conftest import FIXTURES

    from canonical import CANONICALIZERS, SkipRow
    from prompting import fit_history
    histories = []
    for source, name in (("esconv", "train.json"), ("ed", "train.csv")):
        path = os.path.join(FIXTURES, source, name)
        if source == "esconv":
            rows = [json.loads(line) for line in Path(path).read_text().splitlines()]
        else:
            with open(path, encoding="utf-8") as f:
                rows = list(csv.DictReader(f))
        for row in rows:
            try:
                examples = CANONICALIZERS[source](row)
            except SkipRow:
                continue
            histories += [e["messages"][:-1] for e in examples if e["messages"]]
    assert len(histories) > 100
    for budget in (40, 90, 160, 400):
        for h in histories:
            assert fit_history(h, any_tok, SYSTEM, budget) == _linear_fit(h, any_tok, SYSTEM,
                                                                          budget)


def test_block_encoder_equals_rendering_every_prompt_on_all_fixture_examples(any_tok):
    """The fast path (per-message blocks, lengths summed) gives the ids and cut of the slow
    path (render each candidate prompt) for every ED/ESConv fixture example and budget."""
    import csv
    import json
    import os

    from conftest import FIXTURES

    from canonical import CANONICALIZERS, SkipRow
    from prompting import PromptEncoder, fit_history
    enc = PromptEncoder(any_tok, SYSTEM)
    assert enc.exact
    histories = []
    for source, name in (("esconv", "train.json"), ("ed", "train.csv"), ("esconv", "test.json")):
        path = os.path.join(FIXTURES, source, name)
        with open(path, encoding="utf-8") as f:
            rows = list(csv.DictReader(f)) if name.endswith(".csv") else \
                [json.loads(line) for line in f]
        for row in rows:
            try:
                histories += [e["messages"][:-1] for e in CANONICALIZERS[source](row)
                              if e["messages"]]
            except SkipRow:
                continue
    for budget in (40, 90, 160, 400):
        for h in histories:
            assert enc.fit(h, budget) == fit_history(h, any_tok, SYSTEM, budget)
