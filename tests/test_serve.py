"""`serve`: the OpenAI-compatible server through the official `openai` client, the web page in
headless Chromium, proxy mode through a second instance as the upstream, and a load test.
Every server binds to 127.0.0.1 on a free port; traffic is bounded in count and time."""
import json
import os
import shutil
import socket
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest
import uvicorn
from conftest import ROOT

import serve
from config_load import load_config
from decoding_policy import ReplySettings
from generation import generate_batch
from loading import load_for_inference
from serve import build_app
from serve_api import Api
from serve_engine import ChatRequest, Engine, QueueFull, cut_at_stop

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DEFAULTS = ReplySettings(temperature=0.7, top_p=0.9, max_new_tokens=32)  # a request's defaults


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Running:
    """A uvicorn server in a thread, on loopback, stopped on exit."""

    def __init__(self, app):
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port,
                                                    log_level="error"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        for _ in range(200):
            if self.server.started:
                return f"http://127.0.0.1:{self.port}"
            time.sleep(0.05)
        raise RuntimeError("the test server did not start")

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=10)


def client(url: str, key: str = "none") -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=120)


@pytest.fixture(scope="module")
def tiny_server(tiny_run, crisis_built):
    app, engine = build_app(tiny_run)
    with Running(app) as url:
        yield url, engine


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory, crisis_built):
    """The demo model (SmolLM2-135M as `make demo` loads it, base: nothing trained here)."""
    cfg = load_config(os.path.join(ROOT, "config", "cpu_smoke.json"), [
        f"output.root={tmp_path_factory.mktemp('demo_runs')}", "serve.queue_size=64",
        "serve.max_batch=8", "decoding.reflect_max_new_tokens=4",
        "decoding.chat_max_new_tokens=40"])
    app, _ = build_app(cfg)
    with Running(app) as url:
        yield url


USER = [{"role": "user", "content": "my cat knocked my coffee over this morning"}]
CRISIS = [{"role": "user", "content": "I want to end my life tonight, I have the pills here"}]


def test_models_and_a_completion_in_openai_shape(tiny_server):
    url, _ = tiny_server
    c = client(url)
    assert [m.id for m in c.models.list().data] == ["base", "finetuned"]
    r = c.chat.completions.create(model="finetuned", messages=USER, max_tokens=8, temperature=0)
    assert r.object == "chat.completion" and r.choices[0].message.role == "assistant"
    assert r.choices[0].finish_reason in ("stop", "length") and r.usage.completion_tokens >= 0
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    friend = r.model_extra["friend"]
    assert friend["crisis_mode"] is False and friend["risk_level"] == "none"


def test_streaming_ends_with_done_and_equals_the_stream_it_sent(tiny_server):
    url, _ = tiny_server
    chunks = list(client(url).chat.completions.create(
        model="base", messages=USER, max_tokens=12, temperature=0, stream=True))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")
    assert all(c.object == "chat.completion.chunk" for c in chunks)
    raw = urllib.request.urlopen(urllib.request.Request(
        f"{url}/v1/chat/completions", data=json.dumps({
            "model": "base", "messages": USER, "max_tokens": 12, "temperature": 0,
            "stream": True}).encode(), headers={"Content-Type": "application/json"}))
    lines = [x.decode().strip() for x in raw if x.strip()]
    assert lines[-1] == "data: [DONE]"


def test_a_crisis_reply_is_checked_before_any_of_it_is_sent(tiny_server):
    url, _ = tiny_server
    chunks = list(client(url).chat.completions.create(model="finetuned", messages=CRISIS,
                                                      max_tokens=24, stream=True))
    texts = [c.choices[0].delta.content for c in chunks if c.choices[0].delta.content]
    assert len(texts) == 1  # the whole reply at once, after the check
    last = chunks[-1].model_extra["friend"]
    assert last["crisis_mode"] and last["risk_level"] == "high"
    assert last["reply_check"] in ("passed", "regenerated", "replaced")
    flagged = [c for c in chunks if (c.model_extra or {}).get("friend", {}).get("checking")]
    assert flagged and chunks.index(flagged[0]) < next(
        k for k, c in enumerate(chunks) if c.choices[0].delta.content)


@pytest.mark.parametrize("kwargs,error,param", [
    ({"model": "nope"}, openai.NotFoundError, "model"),
    ({"messages": [{"role": "robot", "content": "hi"}]}, openai.BadRequestError,
     "messages[0].role"),
    ({"messages": []}, openai.BadRequestError, "messages"),
    ({"messages": [{"role": "assistant", "content": "hi"}]}, openai.BadRequestError, "messages"),
    ({"max_tokens": 100000}, openai.BadRequestError, "max_tokens"),
    ({"temperature": 5}, openai.BadRequestError, "temperature"),
    ({"extra_body": {"style": "sarcastic"}}, openai.BadRequestError, "style"),
    ({"messages": [{"role": "user", "content": "x" * 9000}]}, openai.BadRequestError,
     "messages[0].content"),
])
def test_bad_requests_get_openai_errors_naming_the_field(tiny_server, kwargs, error, param):
    url, _ = tiny_server
    args = {"model": "base", "messages": USER, "max_tokens": 4, **kwargs}
    with pytest.raises(error) as e:
        client(url).chat.completions.create(**args)
    assert e.value.body["param"] == param and e.value.body["message"]


def test_malformed_json_and_an_oversized_body_are_refused(tiny_server):
    url, _ = tiny_server
    for data, status in ((b"{not json", 400), (b"{" + b" " * 300_000 + b"}", 413)):
        req = urllib.request.Request(f"{url}/v1/chat/completions", data=data,
                                     headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req)
        body = json.loads(e.value.read())
        assert e.value.code == status and body["error"]["message"] and "Traceback" not in str(body)


def test_the_api_key_is_required_when_set(tiny_run, crisis_built):
    app, _ = build_app(tiny_run, api_key="s3cret")
    with Running(app) as url:
        with pytest.raises(openai.AuthenticationError):
            client(url, "wrong").models.list()
        with pytest.raises(openai.AuthenticationError):
            client(url, "wrong").chat.completions.create(model="base", messages=USER)
        assert [m.id for m in client(url, "s3cret").models.list().data][0] == "base"


def test_a_full_queue_answers_429_with_retry_after(tiny_run):
    class Full:
        def submit(self, req):
            raise QueueFull

        def health(self):
            return {}
    app = Api(Full(), ("base",), tiny_run.serve, DEFAULTS, lambda m, t: (0, 0)).app()
    with Running(app) as url:
        with pytest.raises(openai.RateLimitError) as e:
            client(url).chat.completions.create(model="base", messages=USER)
        assert e.value.response.headers["retry-after"] == str(tiny_run.serve.retry_after_s)


def test_the_engine_queue_is_bounded_and_batches_agreeing_requests(tiny_run):
    gate, seen = threading.Event(), []

    class Policy:
        def respond(self, convs, model, styles=None, cancelled=None, **kw):
            gate.wait(10)
            seen.append(len(convs))
            return [type("R", (), {"text": f"reply to {c[-1]['content']}", "meta": {}})()
                    for c in convs]
    cfg = tiny_run.serve
    engine = Engine(lambda req: Policy(), type(cfg)(queue_size=3, max_batch=8,
                                                    batch_wait_ms=200))
    first = ChatRequest("base", [{"role": "user", "content": "0"}])
    engine.submit(first)
    time.sleep(0.3)  # the worker holds `first` at the gate
    more = [ChatRequest("base", [{"role": "user", "content": str(k)}]) for k in (1, 2, 3)]
    for r in more:
        engine.submit(r)
    with pytest.raises(QueueFull):
        engine.submit(ChatRequest("base", [{"role": "user", "content": "4"}]))
    gate.set()
    for r in [first, *more]:
        assert r.done.wait(10) and r.text == f"reply to {r.messages[-1]['content']}"
    assert seen == [1, 3]  # the three that waited were answered together, each its own reply


def test_a_withdrawn_row_stops_generating_and_the_others_go_on(tiny_run):
    friend = load_for_inference(tiny_run, require_adapter=False)
    convs = [[{"role": "user", "content": "tell me a long story about the sea"}]] * 2
    both, alone = [], []
    generate_batch(friend, convs, 24, batch_size=2, stats=both, cancelled=lambda i: i == 1)
    generate_batch(friend, convs[:1], 24, batch_size=1, stats=alone)
    assert both[1]["new_tokens"] <= 1 and both[0] == alone[0] and alone[0]["new_tokens"] > 2


def test_a_client_that_goes_away_withdraws_its_stream(tiny_run):
    got = []

    class Holding:
        def submit(self, req):
            got.append(req)  # never answered: only the client's leaving ends it

        def health(self):
            return {}
    app = Api(Holding(), ("base",), tiny_run.serve, DEFAULTS, lambda m, t: (0, 0)).app()
    with Running(app) as url:
        sock = socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])))
        body = json.dumps({"model": "base", "messages": USER, "stream": True}).encode()
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: "
                     b"application/json\r\nContent-Length: " + str(len(body)).encode() +
                     b"\r\n\r\n" + body)
        seen = b""
        while b"data:" not in seen:  # the headers, then the first event
            seen += sock.recv(4096)
        sock.close()
        for _ in range(100):
            if got and got[0].cancel.is_set():
                break
            time.sleep(0.05)
    assert got and got[0].cancel.is_set()


def test_stop_strings_cut_the_reply():
    assert cut_at_stop("one. two. three.", ["two", "zzz"]) == ("one. ", True)
    assert cut_at_stop("one. two.", ["zzz"]) == ("one. two.", False)


def test_proxy_mode_puts_the_policy_in_front_of_a_second_instance(tiny_run, crisis_built):
    raw_app, _ = build_app(tiny_run, raw=True)
    with Running(raw_app) as upstream:
        proxy_app, _ = build_app(tiny_run, upstream=upstream)
        with Running(proxy_app) as url:
            c = client(url)
            assert [m.id for m in c.models.list().data] == ["base", "finetuned"]
            r = c.chat.completions.create(model="finetuned", messages=USER, max_tokens=8,
                                          temperature=0)
            assert r.model_extra["friend"]["crisis_mode"] is False
            crisis = c.chat.completions.create(model="finetuned", messages=CRISIS, max_tokens=16)
            friend = crisis.model_extra["friend"]
            assert friend["crisis_mode"] and friend["reply_check"] in (
                "passed", "regenerated", "replaced")
            streamed = list(c.chat.completions.create(model="base", messages=USER, max_tokens=8,
                                                      temperature=0, stream=True))
            assert streamed[-1].choices[0].finish_reason in ("stop", "length")


def test_binding_beyond_loopback_without_a_key_warns_and_raw_refuses(tiny_run, capsys,
                                                                      monkeypatch):
    monkeypatch.setattr(serve.uvicorn, "run", lambda *a, **k: None)
    monkeypatch.setattr(serve, "build_app", lambda *a, **k: (None, None))
    monkeypatch.delenv("FRIEND_API_KEY", raising=False)
    serve.run_serve(tiny_run, host="0.0.0.0")
    assert "WITHOUT an API key" in capsys.readouterr().err
    serve.run_serve(tiny_run, host="127.0.0.1")
    assert "WARNING" not in capsys.readouterr().err
    with pytest.raises(Exception, match="loopback only"):
        serve.run_serve(tiny_run, host="0.0.0.0", raw=True)


def test_cors_is_off_unless_configured(tiny_run, crisis_built):
    pre = {"Origin": "http://example.test", "Access-Control-Request-Method": "POST"}
    for origins, allowed in (([], False), (["http://example.test"], True)):
        cfg = load_config(os.path.join(tiny_run.run_dir, "config.json"),
                          [f"serve.cors_origins={json.dumps(origins)}"])
        app, _ = build_app(cfg)
        with Running(app) as url:
            req = urllib.request.Request(f"{url}/v1/models", method="OPTIONS", headers=pre)
            try:
                headers = urllib.request.urlopen(req).headers
            except urllib.error.HTTPError as e:
                headers = e.headers
            assert ("access-control-allow-origin" in {k.lower() for k in headers}) is allowed


def test_the_page_loads_nothing_from_outside(tiny_server):
    url, _ = tiny_server
    page = urllib.request.urlopen(url + "/").read().decode()
    assert "<textarea" in page and "/v1/chat/completions" in page
    assert "http://" not in page and "https://" not in page and "//cdn" not in page


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run "
                    "installs it)")
def test_the_page_streams_a_reply_and_shows_the_crisis_banner(demo_server):
    from playwright.sync_api import sync_playwright
    url = demo_server
    shot = os.path.join(ROOT, "artifacts", "serve_page.png")
    os.makedirs(os.path.dirname(shot), exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 900, "height": 760})
        page.goto(url + "/")
        page.wait_for_selector("#model option", state="attached")
        page.fill("#text", "my cat knocked my coffee over this morning")
        page.click("#send")
        page.wait_for_function("document.querySelectorAll('.msg.friend').length === 1 && "
                               "document.querySelector('.msg.friend').textContent.length > 0",
                               timeout=60000)
        assert page.is_hidden("#crisis")
        page.fill("#text", "I want to end my life tonight, I have the pills here")
        page.click("#send")
        page.wait_for_selector("#crisis", state="visible", timeout=60000)
        page.wait_for_function("document.querySelectorAll('.msg.friend').length === 2 && "
                               "!document.querySelectorAll('.msg.friend')[1].classList"
                               ".contains('checking')", timeout=60000)
        page.screenshot(path=shot, full_page=True)
        page.click("#reset")
        assert page.is_hidden("#crisis") and page.locator(".msg").count() == 0
        browser.close()
    assert os.path.getsize(shot) > 10_000


@pytest.mark.slow
def test_sixteen_clients_three_requests_each_get_their_own_replies(demo_server):
    """The demo model, greedy: every request is answered or refused with 429, each answer
    equals that request's answer when sent alone, and the server is healthy after."""
    url = demo_server
    topics = ["my exam went badly", "I got a puppy today", "my sister is visiting",
              "work was so long", "I can't sleep lately", "we won the match",
              "my friend moved away", "the rain ruined my plans"]

    def ask(k):
        msg = [{"role": "user", "content": f"{topics[k % 8]} ({k % 16})"}]
        try:
            r = client(url).chat.completions.create(model="base", messages=msg,
                                                    max_tokens=10, temperature=0)
            return msg, r.choices[0].message.content
        except openai.RateLimitError:
            return msg, None
    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(ask, range(48)))
    answered = [(m, t) for m, t in results if t is not None]
    assert answered
    alone = {}
    for m, _ in answered:
        key = m[0]["content"]
        if key not in alone:
            alone[key] = client(url).chat.completions.create(
                model="base", messages=m, max_tokens=10, temperature=0).choices[0].message.content
    assert all(t == alone[m[0]["content"]] for m, t in answered)
    health = json.loads(urllib.request.urlopen(url + "/health").read())
    assert health["status"] == "ok" and health["worker_alive"] and health["queued"] == 0
