"""Shared by every test directory."""

# Import Hypothesis while the stack is shallow. Its pytest plugin imports it lazily at the
# terminal summary when no collected module did; CPython 3.11.7 (this machine's) then fails
# compiling one of its modules under pytest's assertion rewriting with "SystemError: AST
# constructor recursion depth mismatch", turning a green run red after the last test.
import hypothesis  # noqa: F401
