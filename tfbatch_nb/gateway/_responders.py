"""Responders: what answers each request line (and each realtime call).

A responder is any callable ``(endpoint, body) -> response body``: ``endpoint`` is the batch
endpoint such as ``"/v1/chat/completions"``, ``body`` the request body (a dict). It may

- return a dict: the response body, used as is;
- return a str (chat / completions / responses only): wrapped into the endpoint's response shape,
  with usage estimated like the simulator's (4 characters per token);
- raise ``ResponderError(status_code, message)``: the line fails with that HTTP status
  (error file, ``response.status_code`` set); any other exception fails the line with
  ``error.code = "responder_error"``.

The default is the simulated model; :class:`Forwarder` sends each request to a real-time
OpenAI-compatible endpoint instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ._errors import ApiError
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


class Forwarder:
    """Send each request to a real-time OpenAI-compatible endpoint (Ollama, vLLM, a gateway).

    Parameters
    ----------
    base_url : str
        The target's OpenAI base URL, e.g. ``http://localhost:11434/v1`` or another gateway's ``url``;
        ``/v1/chat/completions`` lines go to ``{base_url}/chat/completions``.
    api_key : str or None
        Bearer token for the target (never logged).
    concurrency : int
        How many requests run at once (the batch runner honours this).
    max_retries : int
        Retries on connection errors, 408, 409, 429 and 5xx (the openai SDK's policy and backoff,
        honouring ``Retry-After``).
    headers : Mapping[str, str] or None
        Extra headers sent to the target (e.g. ``x-tfy-provider-name``).
    timeout : float
        Per-request timeout in seconds.
    model_map : Callable[[str], str] or None
        Rewrites ``body.model`` before sending (e.g. strip the ``integration/`` prefix for Ollama).

    Examples
    --------
    >>> fwd = Forwarder("http://127.0.0.1:9/v1", api_key="k", concurrency=4)
    >>> fwd.concurrency
    4
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        concurrency: int = 8,
        max_retries: int = 4,
        headers: Mapping[str, str] | None = None,
        timeout: float = 120.0,
        model_map: Callable[[str], str] | None = None,
    ) -> None:
        import openai  # the SDK brings retries, backoff and Retry-After handling for free

        self.base_url = base_url.rstrip("/")
        self.concurrency = max(1, int(concurrency))
        self.model_map = model_map
        self._client = openai.OpenAI(
            base_url=self.base_url,
            api_key=api_key or "unused",
            max_retries=max_retries,
            timeout=timeout,
            default_headers=dict(headers or {}),
        )

    def __repr__(self) -> str:
        return f"Forwarder({self.base_url!r}, concurrency={self.concurrency})"

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()

    def __call__(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        import openai

        path = endpoint.removeprefix("/v1") or "/"
        if self.model_map is not None and isinstance(body.get("model"), str):
            body = {**body, "model": self.model_map(body["model"])}
        try:
            result = self._client.post(path, body=body, cast_to=object)
        except openai.APIStatusError as exc:
            error = exc.body if isinstance(exc.body, dict) else {}
            raise ApiError(
                exc.status_code,
                str(error.get("message") or exc.message),
                type=error.get("type") if isinstance(error.get("type"), str) else None,
                code=error.get("code") if isinstance(error.get("code"), str) else None,
                param=error.get("param") if isinstance(error.get("param"), str) else None,
            ) from None
        except openai.APIConnectionError as exc:
            # retries are exhausted: a gateway-style 502 keeps the line's failure HTTP-shaped
            raise ApiError(502, f"forward target unreachable: {type(exc).__name__}") from None
        if not isinstance(result, dict):
            raise ApiError(502, "forward target returned a non-object body")
        return result


def respond(responder: Responder, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
    """Run ``responder`` and normalise its answer (see the module docstring).

    Examples
    --------
    >>> respond(lambda endpoint, body: {"ok": True}, "/v1/embeddings", {})
    {'ok': True}
    """
    return as_body(endpoint, body, responder(endpoint, body))
