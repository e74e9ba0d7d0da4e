"""One kernel session for the grader: run a cell under a time limit and say exactly how it ended.

Built on nbclient. A cell ends ``ok``, ``error`` (it raised), ``timeout`` (interrupted after its
limit), ``wedged`` (still busy after the interrupt and a grace period: the kernel must be
replaced), ``died`` (the kernel process is gone, e.g. ``os._exit``, ``exit()``, a segfault) or
``skipped`` (nothing to run). Outputs beyond a size cap are dropped with a note, so a cell that
prints 50 MB cannot blow up the grader's memory or the executed copy.
"""

from __future__ import annotations

import math
import secrets
import subprocess
import time
from dataclasses import dataclass
from queue import Empty
from typing import Any

from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError
from nbformat import NotebookNode
from nbformat.v4 import new_output

MAX_OUTPUT_BYTES = 1_000_000  # per cell, in the executed copy


@dataclass
class Outcome:
    """How one cell execution ended."""

    status: str  # ok | error | timeout | wedged | died | skipped
    seconds: float = 0.0
    error: str = ""  # "NameError: name 'x' is not defined" for status error

    @property
    def lost_kernel(self) -> bool:
        return self.status in ("died", "wedged")


class _Client(NotebookClient):
    """nbclient with a cap on output size per execution and access to each execute reply."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.last_reply: dict | None = None
        self.on_cell_executed = self._remember_reply
        self._sizes: dict[str, int] = {}

    def _remember_reply(self, cell: NotebookNode, cell_index: int, execute_reply: dict) -> None:
        self.last_reply = execute_reply

    def output(self, outs: list, msg: dict, display_id: str | None, cell_index: int) -> NotebookNode | None:
        parent = msg["parent_header"].get("msg_id", "")
        size = self._sizes.get(parent, 0)
        content = msg.get("content", {})
        grown = size + len(content.get("text", "")) + sum(len(str(v)) for v in content.get("data", {}).values())
        self._sizes[parent] = grown
        if grown > MAX_OUTPUT_BYTES:
            if size <= MAX_OUTPUT_BYTES:
                outs.append(new_output("stream", name="stderr", text=f"\n[ftcourse grade: output of this cell cut "
                                       f"after {MAX_OUTPUT_BYTES // 1000} kB]\n"))
            return None
        return super().output(outs, msg, display_id, cell_index)


class KernelSession:
    """A fresh kernel for one notebook: start it, run cells with limits, shut it down."""

    def __init__(self, nb: NotebookNode, kernel_name: str, cwd: str, env: dict[str, str], grace: float):
        self.nb, self.kernel_name, self.cwd, self.env, self.grace = nb, kernel_name, cwd, env, grace
        self._token = secrets.token_hex(8)  # marks nbclient's stand-in reply after a timeout
        self.client = _Client(
            nb, kernel_name=kernel_name, allow_errors=True, interrupt_on_timeout=True, shutdown_kernel="immediate",
            error_on_timeout={"ename": "Timeout", "evalue": "time limit reached", "traceback": [],
                              "ftcourse_timeout": self._token},
            resources={"metadata": {"path": cwd}}, record_timing=False, iopub_timeout=4, startup_timeout=120,
        )

    async def start(self) -> None:
        self.client.km = self.client.create_kernel_manager()
        # the kernel's own stderr (e.g. ipykernel's transport warnings) is noise here; outputs come over ZMQ
        await self.client.async_start_new_kernel(env=self.env, stderr=subprocess.DEVNULL)
        await self.client.async_start_new_kernel_client()

    async def close(self) -> None:
        if self.client.km is not None:
            try:
                await self.client._async_cleanup_kernel()
            except Exception:  # a kernel that is already gone is fine
                pass

    async def run(self, cell: NotebookNode, index: int, timeout: float, store_history: bool = True) -> Outcome:
        """Execute `cell` (as the notebook's cell `index`) within `timeout` seconds; never raises."""
        if cell.get("cell_type") != "code" or not cell.get("source", "").strip():
            return Outcome("skipped")
        self.client.timeout = max(1, math.ceil(timeout))
        self.client.last_reply = None
        start = time.perf_counter()
        try:
            await self.client.async_execute_cell(cell, index, store_history=store_history)
        except DeadKernelError:
            return Outcome("died", time.perf_counter() - start)
        except Exception as exc:  # nbclient or zmq trouble: treat the kernel as lost
            if not await self.alive():
                return Outcome("died", time.perf_counter() - start)
            return Outcome("wedged", time.perf_counter() - start, f"{type(exc).__name__}: {exc}")
        seconds = time.perf_counter() - start
        content = (self.client.last_reply or {}).get("content", {})
        if content.get("ftcourse_timeout") == self._token:
            if await self.ping():
                return Outcome("timeout", seconds)
            return Outcome("wedged" if await self.alive() else "died", seconds)
        if any(p.get("source") == "ask_exit" and not p.get("keepkernel") for p in content.get("payload", []) or []):
            return Outcome("died", seconds, "the cell called exit()")
        if content.get("status") == "error":
            return Outcome("error", seconds, f"{content.get('ename', 'Error')}: {content.get('evalue', '')}".strip())
        if content.get("status") != "ok":
            return Outcome("error", seconds, f"unexpected reply status {content.get('status')!r}")
        return Outcome("ok", seconds)

    async def alive(self) -> bool:
        try:
            return bool(self.client.km is not None and await self.client.km.is_alive())
        except Exception:
            return False

    async def ping(self) -> bool:
        """Does the kernel answer a kernel_info request within the grace period (i.e. is it idle again)?"""
        kc = self.client.kc
        if kc is None or not await self.alive():
            return False
        msg_id = kc.kernel_info()
        deadline = time.monotonic() + self.grace
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                msg = await kc.shell_channel.get_msg(timeout=remaining)
            except Empty:
                return False
            if msg.get("parent_header", {}).get("msg_id") == msg_id:
                return True
        return False

