"""The bad-input table: every refusal exits 2 naming the file, key or path, and leaves what
was there untouched; faults that can be survived (a torn log line, a broken newest
checkpoint, unreadable data rows) are survived and reported."""
import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, tiny_overrides

SMOKE = os.path.join(ROOT, "config", "cpu_smoke.json")


def _main(args, capsys):
    from main import main
    rc = main(args)
    captured = capsys.readouterr()
    return rc, captured.out + captured.err


def _snapshot(folder):
    out = {}
    for base, _, files in os.walk(folder):
        for f in files:
            p = os.path.join(base, f)
            out[os.path.relpath(p, folder)] = Path(p).read_bytes()
    return out


def _sets(root, data_cache, model_dir, extra=()):
    items = tiny_overrides(root, data_cache, model_dir, ["training.max_steps=4",
                                                         "training.save_every=2", *extra])
    return [x for item in items for x in ("--set", item)]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_cache, tiny_model_dir):
    """A finished 4-step run with checkpoints at steps 2 and 4."""
    root = tmp_path_factory.mktemp("bad_input_run")
    from main import main
    assert main(["train", "--config", SMOKE, *_sets(root, data_cache, tiny_model_dir)]) == 0
    return root, os.path.join(root, "cpu_smoke")


# ------------------------------------------------------------------ runs never get mixed
def test_train_again_without_resume_refuses_and_keeps_the_run(trained, data_cache,
                                                              tiny_model_dir, capsys):
    root, run = trained
    before = _snapshot(run)
    rc, msg = _main(["train", "--config", SMOKE, *_sets(root, data_cache, tiny_model_dir)], capsys)
    assert rc == 2 and "--resume" in msg and "output.run_name" in msg
    assert _snapshot(run) == before


def test_resume_with_a_changed_training_setting_refuses_naming_it(trained, data_cache,
                                                                  tiny_model_dir, capsys):
    root, run = trained
    before = _snapshot(run)
    rc, msg = _main(["train", "--resume", "--config", SMOKE,
                     *_sets(root, data_cache, tiny_model_dir, ["training.lr=0.001"])], capsys)
    assert rc == 2 and "training.lr" in msg and "steps_per_job" in msg
    assert _snapshot(run) == before


@pytest.mark.slow
def test_chat_uses_the_run_folder_it_is_given_even_when_copied(trained, tmp_path,
                                                               crisis_built):
    _, run = trained
    copy = tmp_path / "elsewhere" / "my_copy"
    shutil.copytree(run, copy)
    res = subprocess.run([sys.executable, os.path.join(ROOT, "main.py"), "chat", "--run", str(copy),
                          "--set", "decoding.chat_max_new_tokens=4",
                          "--set", "decoding.two_step=false"], input="hi\n",
                         capture_output=True, text=True, cwd=str(tmp_path), timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert f"fine-tuned friend from {copy}" in res.stdout
    assert not os.path.exists(tmp_path / "artifacts")  # caches go under the project root


def test_eq_bench_with_an_empty_question_file_refuses_and_overwrites_nothing(
        trained, data_cache, tiny_model_dir, tmp_path, capsys):
    root, run = trained
    empty = tmp_path / "empty.json"
    empty.write_text("{}")
    before = _snapshot(run)
    rc, msg = _main(["eq-bench", "--config", SMOKE, "--questions", str(empty),
                     *_sets(root, data_cache, tiny_model_dir)], capsys)
    assert rc == 2 and str(empty) in msg and _snapshot(run) == before


@pytest.mark.parametrize("kind", ["empty", "foreign"])
def test_pipeline_on_a_folder_that_is_not_a_run_exits_2(tmp_path, capsys, kind):
    folder = tmp_path / kind
    folder.mkdir()
    if kind == "foreign":
        (folder / "notes.txt").write_text("hello")
    rc, msg = _main(["pipeline", "--run", str(folder)], capsys)
    assert rc == 2 and "not a run folder" in msg
    assert not (folder / "completed").exists() and not (folder / "report.md").exists()


@pytest.mark.parametrize("name", ["..", ".", "a/b"])
def test_run_names_cannot_leave_the_runs_root(name, capsys):
    rc, msg = _main(["data", "--config", SMOKE, "--set", f"output.run_name={name}"], capsys)
    assert rc == 2 and "output.run_name" in msg and "(from --set)" in msg


def test_relative_cache_paths_resolve_under_the_project_root(tmp_path, monkeypatch):
    from config_load import load_config
    monkeypatch.chdir(tmp_path)
    cfg = load_config(SMOKE)
    assert cfg.model.cache_dir.startswith(ROOT) and cfg.data.cache_dir.startswith(ROOT)
    assert cfg.output.root.startswith(ROOT) and cfg.data.ed.path.startswith(ROOT)


def test_trust_remote_code_warns_naming_the_folder(tiny_model_dir, caplog):
    from model import load_tokenizer
    load_tokenizer(tiny_model_dir, "artifacts/cache", trust_remote_code=True)
    assert "EXECUTED" in caplog.text and tiny_model_dir in caplog.text


# ------------------------------------------------------------------ config
@pytest.mark.parametrize("setting,key", [
    ("training.lr=0", "training.lr"), ("training.lr=-1", "training.lr"),
    ("training.head_lr=-1", "training.head_lr"), ("lora.r=0", "lora.r"),
    ("training.log_every=0", "training.log_every"), ("data.max_seq_len=abc", "data.max_seq_len")])
def test_bad_values_exit_2_naming_the_key_and_set(setting, key, capsys):
    rc, msg = _main(["train", "--config", SMOKE, "--set", setting], capsys)
    assert rc == 2 and key in msg and "--set" in msg and "cpu_smoke.json" not in msg


def test_extends_that_is_not_a_path_or_loops_back_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"extends": 5}))
    rc, msg = _main(["data", "--config", str(bad)], capsys)
    assert rc == 2 and "extends" in msg and str(bad) in msg
    sub = tmp_path / "sub"
    sub.mkdir()
    loop = sub / "loop.json"
    loop.write_text(json.dumps({"extends": "../sub/loop.json"}))
    rc, msg = _main(["data", "--config", str(loop)], capsys)
    assert rc == 2 and "cycle" in msg


def test_a_max_seq_len_no_example_fits_names_the_setting(tmp_path, data_cache, tiny_model_dir,
                                                        capsys):
    rc, msg = _main(["train", "--config", SMOKE, *_sets(tmp_path, data_cache, tiny_model_dir,
                                                        ["data.max_seq_len=16"])], capsys)
    assert rc == 2 and "data.max_seq_len" in msg


def test_the_default_hub_model_fails_at_once_offline_and_points_to_cpu_smoke(capsys,
                                                                            monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    rc, msg = _main(["train"], capsys)
    assert rc == 2 and "Qwen/Qwen2.5-3B-Instruct" in msg and "cpu_smoke.json" in msg


# ------------------------------------------------------------------ data files
def _copy_fixtures(tmp_path):
    from conftest import FIXTURES
    dst = tmp_path / "data"
    shutil.copytree(FIXTURES, dst)
    return dst


def _data_args(dst, tmp_path):
    return ["data", "--config", SMOKE, "--set", f"data.ed.path={dst / 'ed'}",
            "--set", f"data.esconv.path={dst / 'esconv'}",
            "--set", f"data.goemotions.path={dst / 'goemotions'}",
            "--set", f"data.cache_dir={tmp_path / 'cache'}"]


def test_an_empty_csv_exits_2_naming_the_file(tmp_path, capsys):
    dst = _copy_fixtures(tmp_path)
    (dst / "ed" / "dev.csv").write_text("")
    rc, msg = _main(_data_args(dst, tmp_path), capsys)
    assert rc == 2 and "dev.csv" in msg and "empty" in msg


def test_a_header_only_train_csv_exits_2_naming_the_source(tmp_path, capsys):
    dst = _copy_fixtures(tmp_path)
    lines = Path(dst / "ed" / "train.csv").read_text().splitlines()
    (dst / "ed" / "train.csv").write_text(lines[0] + "\n")
    rc, msg = _main(_data_args(dst, tmp_path), capsys)
    assert rc == 2 and "'ed'" in msg and "no usable training rows" in msg


def test_columns_that_differ_in_one_split_exit_2_naming_it(tmp_path, capsys):
    dst = _copy_fixtures(tmp_path)
    text = Path(dst / "ed" / "test.csv").read_text().replace("sys_response", "reply", 1)
    (dst / "ed" / "test.csv").write_text(text)
    for run in ("cold", "warm: parsed rows read from the cache"):
        rc, msg = _main(_data_args(dst, tmp_path), capsys)
        assert rc == 2 and "test" in msg and "reply" in msg and "test.csv" in msg, run


def test_unreadable_jsonl_lines_cost_one_row_each(tmp_path, capsys):
    dst = _copy_fixtures(tmp_path)
    with open(dst / "goemotions" / "train.jsonl", "ab") as f:
        f.write(b'\x00\x01\xff binary junk\n{"text": "truncated", "lab\n\xc3\x28 not utf-8\n')
    for run in ("cold", "warm: parsed rows read from the cache"):
        rc, out = _main(_data_args(dst, tmp_path), capsys)
        assert rc == 0 and '"unreadable_row": 3' in out, run


def test_a_missing_path_that_looks_like_a_hub_id_fails_at_once_offline(tmp_path, capsys,
                                                                       monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    rc, msg = _main(["data", "--config", SMOKE, "--set", "data.ed.path=data/nope"], capsys)
    assert rc == 2 and "no local folder 'data/nope'" in msg and "offline" in msg


# ------------------------------------------------------------------ checkpoints, logs, markers
def _fresh_copy(trained, tmp_path):
    _, run = trained
    root = tmp_path / "runs"
    shutil.copytree(run, root / "cpu_smoke")
    cfg_path = root / "cpu_smoke" / "config.json"
    cfg = json.loads(Path(cfg_path).read_text())
    cfg["output"]["root"] = str(root)
    Path(cfg_path).write_text(json.dumps(cfg))
    return root, root / "cpu_smoke"


@pytest.mark.parametrize("damage", ["truncate heads", "truncate adapter", "remove optimizer",
                                    "garbage trainer_state", "garbage sampler",
                                    "garbage scheduler"])
def test_resume_skips_a_broken_newest_checkpoint_and_says_why(trained, tmp_path, data_cache,
                                                              tiny_model_dir, capsys, damage):
    root, run = _fresh_copy(trained, tmp_path)
    newest = run / "checkpoints" / "step_000004"
    what, name = damage.split()
    path = {"heads": newest / "heads.safetensors",
            "adapter": newest / "adapter" / "adapter_model.safetensors",
            "optimizer": newest / "optimizer.pt", "trainer_state": newest / "trainer_state.json",
            "sampler": newest / "sampler.json", "scheduler": newest / "scheduler.pt"}[name]
    if what == "truncate":
        path.write_bytes(path.read_bytes()[:100])
    elif what == "remove":
        path.unlink()
    else:
        path.write_bytes(b"\x00garbage{")
    rc, out = _main(["train", "--resume", "--config", SMOKE,
                     *_sets(root, data_cache, tiny_model_dir)], capsys)
    assert rc == 0, out
    assert "skipping checkpoint step_000004" in out and "resumed from" in out
    assert "step_000002" in out and "weights_only=False" not in out


def test_a_torn_last_log_line_is_dropped_and_said(trained, tmp_path, data_cache, tiny_model_dir,
                                                  capsys):
    root, run = _fresh_copy(trained, tmp_path)
    shutil.rmtree(run / "checkpoints" / "step_000004")  # killed between log and checkpoint
    with open(run / "logs" / "train_metrics.jsonl", "a") as f:
        f.write('{"step": 5, "loss": 1.2')
    rc, out = _main(["train", "--resume", "--config", SMOKE,
                     *_sets(root, data_cache, tiny_model_dir)], capsys)
    assert rc == 0 and "dropped unreadable line" in out
    rows = [json.loads(l) for l in Path(run / "logs" / "train_metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]


def test_an_empty_stage_marker_does_not_block_all(trained, tmp_path, capsys):
    from markers import is_completed, read_marker
    root, run = _fresh_copy(trained, tmp_path)
    (run / "completed" / "train").write_text("")
    assert read_marker(str(run), "train") is None and not is_completed(str(run), "train")


def test_disk_full_while_saving_says_so_and_leaves_no_temp_folder(tmp_path, data_cache,
                                                                  tiny_model_dir, capsys,
                                                                  monkeypatch):
    import torch

    import checkpoint
    real = torch.save

    def full(obj, path, *a, **k):
        if str(path).endswith("optimizer.pt"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(obj, path, *a, **k)
    monkeypatch.setattr(checkpoint.torch, "save", full)
    rc, msg = _main(["train", "--config", SMOKE, *_sets(tmp_path, data_cache, tiny_model_dir)],
                    capsys)
    assert rc == 2 and "no space left" in msg
    ckdir = tmp_path / "cpu_smoke" / "checkpoints"
    assert not [p for p in os.listdir(ckdir) if p.startswith(".tmp")]


# ------------------------------------------------------------------ re-score input
@pytest.mark.parametrize("line,expect", [(b'["a", "list"]\n', "prompt_id"),
                                         (b"\xff\xfe raw bytes\n", "not a JSON line"),
                                         (b'{"prompt_id": "1", "response": 5}\n', "string")])
def test_bad_rescore_rows_exit_2_naming_the_line(tmp_path, capsys, line, expect):
    q = os.path.join(ROOT, "data", "demo", "eq_bench_questions.json")
    resp = tmp_path / "r.jsonl"
    resp.write_bytes(b'{"prompt_id": "2", "response": "x"}\n' + line)
    rc, msg = _main(["eq-bench", "--questions", q, "--responses", str(resp), "--out",
                     str(tmp_path / "o.json")], capsys)
    assert rc == 2 and f"{resp}:2" in msg and expect in msg
    assert not (tmp_path / "o.json").exists()


def test_a_null_response_is_no_answer_not_the_text_none(tmp_path, capsys):
    from eq_bench import read_export_responses
    resp = tmp_path / "r.jsonl"
    resp.write_text('{"prompt_id": "1", "response": null}\n')
    assert read_export_responses(str(resp)) == {"1": ""}


# ------------------------------------------------------------------ the newcomer's path
@pytest.mark.slow
def test_chat_survives_non_utf8_bytes_on_stdin(trained, crisis_built):
    _, run = trained
    res = subprocess.run([sys.executable, "main.py", "chat", "--run", run, "--set",
                          "decoding.chat_max_new_tokens=4", "--set", "decoding.two_step=false"],
                         input=b"\xff\xfe hello\n/quit\n", capture_output=True, cwd=ROOT,
                         timeout=300)
    assert res.returncode == 0 and b"Traceback" not in res.stderr and b"bye" in res.stdout


def test_help_shows_defaults_and_the_offline_start(capsys):
    from main import build_parser
    top = build_parser().format_help()
    assert "config/cpu_smoke.json" in top and "COMMAND" in top
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--help"])
    assert "default: config/example_config.json" in " ".join(capsys.readouterr().out.split())


def test_a_reply_cut_by_the_budget_ends_at_its_last_full_sentence(smol_tok):
    import io

    from decoding_policy import cut_at_sentence
    from streaming import GuardedStreamer
    assert cut_at_sentence("I hear you. That sounds so hard. And I") == \
        "I hear you. That sounds so hard."
    assert cut_at_sentence("no sentence end here") == "no sentence end here"
    for cut, expect in ((True, "I hear you."), (False, "I hear you. And I")):
        out = io.StringIO()
        st = GuardedStreamer(smol_tok, [], out)
        for chunk in ["I hear", " you. ", "And I"]:
            st.on_finalized_text(chunk)
        st.on_finalized_text("", stream_end=True)
        st.finish(cut=cut)
        assert out.getvalue() == expect


def test_model_loading_prints_no_deprecation_warning(tiny_model_dir, recwarn):
    from model import add_lora, load_base_model, prepare_for_training
    model = load_base_model(tiny_model_dir, "artifacts/cache", load_in_4bit=False)
    prepare_for_training(model, gradient_checkpointing=True)
    add_lora(model, 4, 8, 0.0, ["q_proj"])
    assert not [w for w in recwarn if issubclass(w.category, FutureWarning)]
