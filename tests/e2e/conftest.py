"""End-to-end tests: one local stack per test module that asks for ``running``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fixtures.local_stack import StackProcess


@pytest.fixture(scope="module")
def running() -> Iterator[StackProcess]:
    stack = StackProcess()
    try:
        yield stack
    finally:
        if stack.process.poll() is None:
            stack.stop()
