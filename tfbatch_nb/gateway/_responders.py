"""Responders: what answers each request line (and each realtime call).

A responder is any callable ``(endpoint, body) -> response body``: ``endpoint`` is the batch
endpoint such as ``"/v1/chat/completions"``, ``body`` the request body (a dict). It may

- return a dict: the response body, used as is;
- return a str (chat / completions / responses only): wrapped into the endpoint's response shape,
  with usage estimated like the simulator's (4 characters per token);
- raise ``ResponderError(status_code, message)``: the line fails with that HTTP status
  (error file, ``response.status_code`` set); any other exception fails the line with
  ``error.code = "responder_error"``.

The default is the simulated model; the gateway's ``forward_to`` sends each request to a
real-time OpenAI-compatible server instead (see ``._forwarder``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ._simulator import chat_completion, completion, response, tokens

Responder = Callable[[str, dict[str, Any]], Any]


def as_body(endpoint: str, body: dict[str, Any], answer: Any) -> dict[str, Any]:
    """Turn what a responder returned into a response body.

    Examples
    --------
    >>> out = as_body("/v1/chat/completions", {"model": "m", "messages": []}, "positive")
    >>> out["choices"][0]["message"]["content"], out["usage"]["completion_tokens"]
    ('positive', 2)
    """
    if isinstance(answer, dict):
        return answer
    if isinstance(answer, Mapping):
        return dict(answer)
    if not isinstance(answer, str):
        raise TypeError(f"a responder must return a dict or a str, not {type(answer).__name__}")
    # Reuse the simulator's shapes, then put the given text in: one code path for the shapes.
    if endpoint == "/v1/chat/completions":
        out = chat_completion({**body, "messages": body.get("messages") or [{"content": ""}], "n": 1})
        out["choices"][0]["message"]["content"] = answer
        out["choices"][0]["finish_reason"] = "stop"
    elif endpoint == "/v1/completions":
        out = completion({**body, "prompt": body.get("prompt") or "", "n": 1})
        out["choices"] = [{"text": answer, "index": 0, "logprobs": None, "finish_reason": "stop"}]
    elif endpoint == "/v1/responses":
        out = response({**body, "input": body.get("input") or "", "max_output_tokens": None})
        out["output"][0]["content"][0]["text"] = answer
    else:
        raise TypeError(f"a str answer cannot be shaped for {endpoint}; return the response body dict")
    usage = out["usage"]
    done = tokens(answer)
    if "completion_tokens" in usage:
        usage["completion_tokens"] = done
        usage["total_tokens"] = usage["prompt_tokens"] + done
    else:
        usage["output_tokens"] = done
        usage["total_tokens"] = usage["input_tokens"] + done
    return out


def respond(responder: Responder, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
    """Run ``responder`` and normalise its answer (see the module docstring).

    Examples
    --------
    >>> respond(lambda endpoint, body: {"ok": True}, "/v1/embeddings", {})
    {'ok': True}
    """
    return as_body(endpoint, body, responder(endpoint, body))
