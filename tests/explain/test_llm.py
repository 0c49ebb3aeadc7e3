"""The LLM path against a small OpenAI-compatible server on 127.0.0.1, started by the test."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ferx import Analyzer
from ferx.explain.cot import explain_faces
from ferx.explain.llm import LLMRewriter, chat_url
from tests.explain.conftest import make_face


class ChatServer:
    """Replies with the next entry of `replies`: a str (chat content), an int (HTTP status), "sleep"
    (answers after 2 s), or bytes (raw body). Records the requests it got."""

    def __init__(self, replies):
        self.replies, self.requests = list(replies), []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                owner.requests.append((self.path, json.loads(body)))
                reply = owner.replies.pop(0)
                if reply == "sleep":
                    time.sleep(2)
                    reply = "too late"
                if isinstance(reply, int):
                    self.send_response(reply)
                    self.end_headers()
                    return
                data = reply if isinstance(reply, bytes) else json.dumps(
                    {"choices": [{"message": {"role": "assistant", "content": reply}}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass  # the client gave up (timeout test): expected, not worth a traceback

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def smile():
    (e,) = explain_faces(make_face({6: 3.5, 12: 4.8, 25: 2.0}, {"happiness": 0.9, "neutral": 0.1}), au_weight=0.0)
    return e


FAITHFUL = (
    "Key observations: The lip corners are pulled up strongly, AU12 at intensity E (4.8), and the cheeks are "
    "raised, AU6 at intensity D (3.5); the lips are slightly apart (AU25, intensity B (2.0)).\n"
    "Overall emotional interpretation: Cheeks rising with the smile is the Duchenne pattern of enjoyment, and the "
    "image classifier agrees with the AU evidence.\n"
    "Conclusion: The person looks happy (90%)."
)
UNFAITHFUL = FAITHFUL.replace("the lips are slightly apart", "the nose wrinkles (AU9, intensity C (3.0)) and the lips part")


def test_faithful_reply_replaces_the_text(smile):
    with ChatServer([FAITHFUL]) as srv:
        out = LLMRewriter(srv.url, model="tiny", timeout=5).rewrite(smile)
    assert (out.text, out.text_source, out.notes) == (FAITHFUL, "llm", ())
    path, payload = srv.requests[0]
    assert path == "/v1/chat/completions" and payload["model"] == "tiny"
    facts = json.loads(payload["messages"][1]["content"].split("\n", 1)[1].split("\n\nExplanation")[0])
    assert [o["code"] for o in facts["observations"]] == ["AU12", "AU6", "AU25"] and facts["label"] == "happiness"


@pytest.mark.parametrize(
    "reply, note",
    [
        (UNFAITHFUL, "LLM reply rejected: AU9 is mentioned but not active"),
        (FAITHFUL.replace("happy (90%)", "surprised (90%)"), "LLM reply rejected: the conclusion says surprise"),
        (500, "LLM request failed"),
        (b"{not json", "not an OpenAI-style chat completion"),
        ("sleep", "timed out"),
    ],
)
def test_bad_replies_keep_the_template_text(smile, reply, note):
    with ChatServer([reply]) as srv:
        out = LLMRewriter(srv.url + "/v1", timeout=0.5).rewrite(smile)
    assert out.text == smile.text and out.text_source == "template"
    assert len(out.notes) == 1 and note in out.notes[0]


def test_unreachable_server_is_reported_not_fatal(smile):
    with ChatServer([]) as srv:
        url = srv.url
    out = LLMRewriter(url, timeout=1).rewrite(smile)  # server closed: connection refused
    assert out.text == smile.text and "LLM request failed" in out.notes[0]


def test_urls_and_options():
    assert chat_url("http://h:11434") == "http://h:11434/v1/chat/completions"
    assert chat_url("http://h/v1/") == "http://h/v1/chat/completions"
    assert chat_url("http://h/v1/chat/completions") == "http://h/v1/chat/completions"
    with pytest.raises(ValueError, match="http"):
        LLMRewriter("localhost:11434")


def test_pipeline_with_llm_option(happy_photo):
    with ChatServer([b"{}"]) as srv, Analyzer(explain={"name": "cot", "options": {"llm_url": srv.url, "llm_timeout": 5}}) as a:
        e = a.analyze(happy_photo).faces.explanations[0]
    assert e.text_source == "template" and "not an OpenAI-style chat completion" in e.notes[0]
    assert len(srv.requests) == 1
