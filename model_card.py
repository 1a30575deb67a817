"""The exported model's card: README.md with Hugging Face front matter and the run's figures.

The front matter is written by huggingface_hub's ModelCardData (the hub's own schema:
`base_model`, `library_name`, `datasets`, `tags`, licence). The figures come from the files the
run's report reads (report.collect), through the report's own wording, so an EQ-Bench run below
83.33 % parseable is marked "not a valid score" here as there, and a smoke run says so first.

    python main.py export --run artifacts/runs/cpu_smoke --out /tmp/friend
"""
from __future__ import annotations

import os

from huggingface_hub import ModelCard, ModelCardData

from config import PROJECT_ROOT
from files import is_hub_id, read_json, write_json_atomic, write_text_atomic
from model import SMOLLM2
from report import collect, eq_score_text, section_config, smoke_caveat
from report_dpo import LABELS

DEMO_DATA = os.path.join(PROJECT_ROOT, "data", "demo")
# Hub ids behind the local stand-ins: the card names what the weights are
EMBEDDED_HUB_IDS = {SMOLLM2: "HuggingFaceTB/SmolLM2-135M-Instruct"}
# the three public sources and the licence each carries (their hub cards, 2026-12)
DATA_LICENCES = {
    "ed": ("facebook/empathetic_dialogues", "EmpatheticDialogues", "CC BY-NC 4.0"),
    "esconv": ("thu-coai/esconv", "ESConv", "CC BY-NC 4.0"),
    "goemotions": ("google-research-datasets/go_emotions", "GoEmotions", "Apache 2.0")}
BASE_LICENCES = {"Qwen/Qwen2.5-3B-Instruct": "Qwen Research License (qwen-research)",
                 "HuggingFaceTB/SmolLM2-135M-Instruct": "Apache 2.0"}


def base_model_id(cfg) -> str:
    """The base model as the hub knows it (the embedded SmolLM2 is its GGUF, dequantized)."""
    return EMBEDDED_HUB_IDS.get(cfg.model.name_or_path, cfg.model.name_or_path)


def is_demo(path: str) -> bool:
    """The toolkit's own demo rows (data/demo): written for it, none of the source's text."""
    return os.path.abspath(path).startswith(DEMO_DATA + os.sep)


def _datasets(cfg) -> list[tuple]:
    """(hub id, name, licence, path trained from) of each source: the config's hub id, or the
    source's canonical id where the run read a local copy."""
    out = []
    for key, (hub_id, name, licence) in DATA_LICENCES.items():
        path = getattr(cfg.data, key).path
        out.append((path if is_hub_id(path) else hub_id, name, licence, path))
    return out


def _datasets_used(cfg) -> list[str]:
    return [d[0] for d in _datasets(cfg) if not is_demo(d[3])]


def front_matter(cfg, merged: bool) -> ModelCardData:
    base = base_model_id(cfg)
    tags = ["friend-tune", "empathy", "emotional-support", "lora",
            "qlora" if cfg.quant.load_in_4bit else "peft"] + (["merged"] if merged else [])
    return ModelCardData(
        base_model=base, library_name="transformers" if merged else "peft",
        pipeline_tag="text-generation", datasets=_datasets_used(cfg) or None, tags=tags,
        language=["en"], license="other", license_name="see-licence-notes",
        license_link="LICENSE-NOTES.md")


def _figures(d: dict) -> list[str]:
    """EQ-Bench, head and perplexity figures, as the report reads them."""
    lines = []
    eq = d["eq_bench"]
    if eq:
        lines += ["| model | EQ-Bench v2 score | parseable / asked |", "|---|---|---|"]
        lines += [f"| {LABELS[m]} | {eq_score_text(eq[m])} | {eq[m]['parseable']}/"
                  f"{eq[m]['n_items']} |" for m in LABELS if m in eq]
        lines.append("")
    else:
        lines += ["EQ-Bench: not run (`python main.py eq-bench`).", ""]
    heads = (d["eval"] or {}).get("heads")
    if heads:
        lines += ["| head | test n | accuracy | macro-F1 | majority-class accuracy |",
                  "|---|---|---|---|---|"]
        lines += [f"| {name} | {m['n']} | {m['accuracy']:.3f} | {m['macro_f1']:.3f} | "
                  f"{(m.get('majority') or {}).get('accuracy', float('nan')):.3f} |"
                  for name, m in heads.items()]
        lines.append("")
    ppl = (d["eval"] or {}).get("perplexity") or {}
    for source, by in ppl.items():
        lines.append(f"- reply perplexity, {source}: " + ", ".join(
            f"{LABELS[m]} {v['perplexity']:.2f}" for m, v in by.items() if m in LABELS))
    if not heads and not ppl:
        lines += ["Head metrics and perplexity: not run (`python main.py eval`)."]
    return lines + [""]


def card_text(cfg, run_dir: str, model: str, merged: bool, step: int) -> str:
    """The card's Markdown body (front matter added by write_card)."""
    d = collect(run_dir)
    base = base_model_id(cfg)
    kind = "merged model (the adapter folded into the base weights)" if merged else \
        "LoRA adapter (PEFT)"
    lines = [f"# {cfg.output.run_name}: an empathetic, safety-aware friend ({model})", "",
             f"A {kind} on `{base}`, trained with friend-tune: "
             f"{'QLoRA (a 4-bit NF4 base)' if cfg.quant.load_in_4bit else 'LoRA'} with emotion "
             f"and strategy heads on the last prompt token{', then DPO' if model == 'dpo' else ''}. "
             f"Exported from `{run_dir}` at step {step}.", ""] + smoke_caveat(d)
    lines += ["## The crisis layer is not in these weights", "",
              "friend-tune answers through a crisis screen over the whole conversation, a reply "
              "check that rejects and regenerates unsafe crisis replies, and a decoding policy "
              "(`main.py chat`, `main.py serve`). None of that is in this folder. Served bare "
              "(transformers, vLLM, Ollama), this model has **no crisis screen and no reply "
              "check**. Put the policy in front of it: `python main.py serve --run RUN "
              "--upstream http://ENGINE/v1`.", ""]
    lines += ["## Figures from the run's report", ""] + _figures(d)
    lines += ["## Configuration", ""] + section_config(d)
    lines += ["The full resolved configuration is `friend_config.json`.", "",
              "## Files", "",
              "- `heads.safetensors`: the emotion and strategy heads (label names in the file's "
              "metadata), read on the final hidden state of the last prompt token;",
              "- the tokenizer and its chat template (`tokenizer_config.json`, "
              "`chat_template.jinja`).", "", "## Load it", ""] + usage(base, merged)
    return "\n".join(lines) + "\n"


def usage(base: str, merged: bool) -> list[str]:
    if merged:
        code = ["from transformers import AutoModelForCausalLM, AutoTokenizer",
                "model = AutoModelForCausalLM.from_pretrained('THIS_FOLDER')",
                "tokenizer = AutoTokenizer.from_pretrained('THIS_FOLDER')"]
        serve = "vllm serve THIS_FOLDER"
    else:
        code = ["from peft import PeftModel",
                "from transformers import AutoModelForCausalLM, AutoTokenizer",
                f"base = AutoModelForCausalLM.from_pretrained('{base}')",
                "model = PeftModel.from_pretrained(base, 'THIS_FOLDER')",
                "tokenizer = AutoTokenizer.from_pretrained('THIS_FOLDER')"]
        serve = f"vllm serve {base} --enable-lora --lora-modules friend=THIS_FOLDER"
    return ["```python"] + code + ["```", "", "```bash", serve, "```", ""]


def licence_notes(cfg) -> str:
    base = base_model_id(cfg)
    lines = ["# Licence notes", "",
             "These weights derive from a base model and from training data, each under its "
             "own terms; the most restrictive applies to use of this model.", "",
             f"- base model `{base}`: {BASE_LICENCES.get(base, 'see its model card')}"]
    for hub_id, name, licence, path in _datasets(cfg):
        if is_demo(path):
            lines.append(f"- {name}: not used; the run trained on the toolkit's demo rows in its "
                         "format (`data/demo`, written for the toolkit)")
            continue
        where = "" if path == hub_id else f" (trained from a local copy, `{path}`)"
        lines.append(f"- {name} (`{hub_id}`){where}: {licence}")
    non_commercial = [d[1] for d in _datasets(cfg) if "NC" in d[2] and not is_demo(d[3])]
    if non_commercial:
        lines += ["", f"{' and '.join(non_commercial)}: licensed for non-commercial use only."]
    lines.append("")
    return "\n".join(lines)


def write_card(folder: str, cfg, run_dir: str, model: str, merged: bool, step: int) -> None:
    """README.md (front matter + body), LICENSE-NOTES.md and friend_config.json."""
    body = card_text(cfg, run_dir, model, merged, step)
    ModelCard(f"---\n{front_matter(cfg, merged).to_yaml()}\n---\n\n{body}").save(
        os.path.join(folder, "README.md"))
    write_text_atomic(os.path.join(folder, "LICENSE-NOTES.md"), licence_notes(cfg))
    write_json_atomic(os.path.join(folder, "friend_config.json"),
                      read_json(os.path.join(run_dir, "config.json")))
