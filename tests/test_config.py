import json
import os

import pytest

from config import ConfigError, save_config, to_dict
from config_load import config_from_dict, load_config
from main import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CFG = os.path.join(ROOT, "config")


def test_extends_inherits_and_overrides_only_what_differs():
    base = load_config(os.path.join(CFG, "example_config.json"))
    abl = load_config(os.path.join(CFG, "ablation_no_emotion.json"))
    assert abl.losses.emotion == 0.0
    assert abl.losses.strategy == base.losses.strategy
    assert abl.model.name_or_path == "Qwen/Qwen2.5-3B-Instruct"
    assert abl.quant.load_in_4bit is True


@pytest.mark.parametrize("name,key", [("ablation_no_emotion.json", "emotion"),
                                      ("ablation_no_strategy.json", "strategy"),
                                      ("safety_enabled.json", "kl")])
def test_ablations_differ_from_example_only_in_loss_weights_and_run_name(name, key):
    base = to_dict(load_config(os.path.join(CFG, "example_config.json")))
    other = to_dict(load_config(os.path.join(CFG, name)))
    diff = {(sec, k) for sec in base for k in base[sec] if base[sec][k] != other[sec][k]}
    assert diff == {("losses", key), ("output", "run_name")}
    if key == "kl":
        assert other["losses"]["kl"] == 0.1


def test_nested_partial_source_keeps_parent_fields(tmp_path):
    p = tmp_path / "c.json"
    p.write_text(json.dumps({"data": {"goemotions": {"data_files": {"train": "x.jsonl"}}}}))
    cfg = load_config(str(p))
    assert cfg.data.goemotions.path == "google-research-datasets/go_emotions"
    assert cfg.data.goemotions.name == "simplified"
    assert cfg.data.goemotions.data_files == {"train": "x.jsonl"}


def test_set_overrides_are_coerced_to_the_field_type():
    cfg = load_config(os.path.join(CFG, "cpu_smoke.json"),
                      ["training.max_steps=7", "training.lr=1e-3", "quant.load_in_4bit=true",
                       "lora.target_modules=q_proj,v_proj", "model.revision=none"])
    assert cfg.training.max_steps == 7 and isinstance(cfg.training.max_steps, int)
    assert cfg.training.lr == 1e-3
    assert cfg.quant.load_in_4bit is True
    assert cfg.lora.target_modules == ["q_proj", "v_proj"]
    assert cfg.model.revision is None


def test_wrong_type_in_file_names_key_and_file(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text(json.dumps({"training": {"max_steps": "ten"}}))
    with pytest.raises(ConfigError) as e:
        load_config(str(p))
    assert "training.max_steps" in str(e.value) and str(p) in str(e.value)


def test_unknown_key_in_file_names_key_and_file(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text(json.dumps({"extends": os.path.join(CFG, "example_config.json"),
                             "lora": {"rank": 8}}))
    with pytest.raises(ConfigError) as e:
        load_config(str(p))
    assert "lora.rank" in str(e.value) and str(p) in str(e.value)


def test_bool_is_not_accepted_as_int(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text(json.dumps({"training": {"batch_size": True}}))
    with pytest.raises(ConfigError, match="training.batch_size"):
        load_config(str(p))


def test_value_checks_name_the_key():
    with pytest.raises(ConfigError, match="mixture.alpha"):
        load_config(None, ["mixture.alpha=1.5"])


def test_resolved_config_round_trips(tmp_path):
    cfg = load_config(os.path.join(CFG, "cpu_smoke.json"), ["training.max_steps=3"])
    save_config(cfg, str(tmp_path / "config.json"))
    again = config_from_dict(json.loads((tmp_path / "config.json").read_text()))
    assert again == cfg


@pytest.mark.parametrize("override,key", [("data.max_seq_len=abc", "data.max_seq_len"),
                                          ("data.nope=1", "data.nope")])
def test_cli_exits_2_naming_the_bad_key(override, key, capsys):
    rc = main(["data", "--config", os.path.join(CFG, "cpu_smoke.json"), "--set", override])
    assert rc == 2
    assert key in capsys.readouterr().err


@pytest.mark.parametrize("key,value", [("model.dtype", "bfloat61"),
                                       ("quant.compute_dtype", "fp32"),
                                       ("quant.quant_type", "nf5"),
                                       ("training.mixed_precision", "fp16")])
def test_bad_dtype_or_precision_exits_2_naming_the_key(key, value, capsys):
    from main import main
    rc = main(["data", "--config", os.path.join(CFG, "example_config.json"),
               "--set", f"{key}={value}"])
    assert rc == 2 and capsys.readouterr().err.count(f"{key}:") == 1  # the key, as the first word


def test_4bit_with_the_matching_autocast_or_none_is_accepted():
    for mp, dtype in (("no", "bfloat16"), ("bf16", "bfloat16"), ("fp16", "float16")):
        cfg = load_config(os.path.join(CFG, "example_config.json"),
                          [f"training.mixed_precision={mp}", f"quant.compute_dtype={dtype}"])
        assert cfg.training.mixed_precision == mp
