"""Headless Chromium driven over the DevTools protocol: open a page, read its rendered
text (its frames' too), click, take screenshots.

The Debian ``chromium`` package (``.ci/run`` installs it when missing); never a browser
downloaded by a test tool. The DevTools protocol rather than ``--screenshot``, which can
hang on pages that refresh themselves, as the Temporal UI does.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from plumbing.ports import free_port

CHROMIUM_NAMES = ("chromium", "chromium-browser")
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--window-size=1440,1000",
)
FIND = """((label, selector) => [...document.querySelectorAll(selector)].find(
  e => e.innerText && e.innerText.trim().split('\\n')[0] === label))"""
"""The first element matching ``selector`` whose first line of text is ``label``."""


def chromium_path() -> str | None:
    """The installed Chromium (Debian's package), if any."""
    return next((found for name in CHROMIUM_NAMES if (found := shutil.which(name))), None)


def _frames(node: dict[str, Any]) -> list[str]:
    """The ids of a frame tree's frames, the main frame first."""
    children = node.get("childFrames", [])
    return [node["frame"]["id"], *(frame for child in children for frame in _frames(child))]


class Page:
    """One browser tab, spoken to over its DevTools websocket."""

    def __init__(self, socket: ClientConnection) -> None:
        self._socket = socket
        self._ids = count(1)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one command and return its result (events in between are ignored)."""
        message_id = next(self._ids)
        await self._socket.send(json.dumps({"id": message_id, "method": method, "params": params}))
        while True:
            reply = json.loads(await self._socket.recv())
            if reply.get("id") == message_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result

    async def goto(self, url: str) -> None:
        await self.call("Page.navigate", url=url)

    async def _evaluate(self, expression: str, context: int | None = None) -> Any:
        params: dict[str, Any] = {"expression": expression, "returnByValue": True}
        if context is not None:
            params["contextId"] = context
        result = await self.call("Runtime.evaluate", **params)
        return result["result"].get("value")

    async def text(self) -> str:
        """The text the page renders (what a reader sees, not the HTML), its frames' too:
        the UI renders Markdown (a saga's summary and details) in sandboxed frames."""
        tree = await self.call("Page.getFrameTree")
        texts = []
        for frame in _frames(tree["frameTree"]):
            world = await self.call(
                "Page.createIsolatedWorld", frameId=frame, grantUniveralAccess=True
            )
            body = "document.body ? document.body.innerText : ''"
            texts.append(str(await self._evaluate(body, world["executionContextId"]) or ""))
        return "\n".join(texts)

    async def wait_for_text(self, *needles: str, seconds: float = 30.0) -> str:
        """The page's text once every needle is in it; fails with what it shows when not."""
        deadline = time.monotonic() + seconds
        text = ""
        while time.monotonic() < deadline:
            text = await self.text()
            if all(needle in text for needle in needles):
                return text
            await asyncio.sleep(0.25)
        missing = [needle for needle in needles if needle not in text]
        raise AssertionError(f"page never showed {missing}; it shows:\n{text[:4000]}")

    async def _act(self, label: str, selector: str, action: str) -> None:
        found = f"{FIND}({json.dumps(label)}, {json.dumps(selector)})"
        done = await self._evaluate(f"(el => el ? (el.{action}, true) : false)({found})")
        if not done:
            raise AssertionError(f"no {selector} labelled {label!r} to {action}")

    async def click(self, label: str) -> None:
        """Click the button, link or tab labelled ``label`` (its first line of text)."""
        await self._act(label, "button, a, [role=tab], summary", "click()")

    async def scroll_to(self, heading: str) -> None:
        """Scroll the heading ``heading`` into view (for a screenshot)."""
        await self._act(heading, "h1, h2, h3, h4", "scrollIntoView()")

    async def screenshot(self) -> bytes:
        """A PNG of what the tab shows."""
        shot = await self.call("Page.captureScreenshot", format="png")
        return base64.b64decode(shot["data"])


@dataclass(frozen=True)
class Chromium:
    """A running headless Chromium: its process and its DevTools port."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path


@contextmanager
def launched(chromium: str, folder: Path) -> Iterator[Chromium]:
    """Headless Chromium with a fresh profile under ``folder`` (its log there too); stopped
    with SIGTERM to its own process group (renderers and helpers), then SIGKILL."""
    port = free_port()
    log = folder / "chromium.log"
    folder.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [chromium, *FLAGS, f"--remote-debugging-port={port}",
             f"--user-data-dir={folder / 'profile'}", "about:blank"],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        yield Chromium(process, port, log)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def devtools_ready(browser: Chromium, seconds: float = 30.0) -> bool:
    """Whether the browser answers on its DevTools port within ``seconds`` (False when it
    exits first: a machine where it cannot run)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and browser.process.poll() is None:
        try:
            return httpx.get(f"http://127.0.0.1:{browser.port}/json/version").is_success
        except httpx.HTTPError:
            time.sleep(0.2)
    return False


async def _page_socket_url(browser: Chromium) -> str:
    """The first tab's DevTools websocket (the browser answers already)."""
    async with httpx.AsyncClient() as http:
        targets = (await http.get(f"http://127.0.0.1:{browser.port}/json/list")).json()
    [url] = [target["webSocketDebuggerUrl"] for target in targets if target["type"] == "page"]
    return str(url)


@asynccontextmanager
async def first_tab(browser: Chromium) -> AsyncIterator[Page]:
    """The browser's first tab, over DevTools."""
    async with connect(await _page_socket_url(browser), max_size=64 * 2**20) as socket:
        page = Page(socket)
        await page.call("Page.enable")
        yield page
