"""Server side: checks the codes people type, with drift, replay protection and lockout.

`from baoling.verifier import Verifier` is the Python API (verifier/service.py). It is loaded on
first use, so tools that only need `baoling.verifier.errors` do not pay for SQLAlchemy and the
crypto stack.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from baoling.verifier.service import Verifier

__all__ = ["Verifier"]


def __getattr__(name: str) -> Any:
    if name == "Verifier":
        from baoling.verifier.service import Verifier

        return Verifier
    raise AttributeError(f"module 'baoling.verifier' has no attribute {name!r}")
