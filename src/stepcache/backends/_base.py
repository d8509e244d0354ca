"""The Backend seam: anything that turns a :class:`BackendRequest` into a :class:`Completion`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from types import TracebackType

from .._types import BackendRequest, Completion

__all__ = ["Backend"]


class Backend(ABC):
    """A model StepCache can call. Implementations must be safe to call from several threads.

    Errors must be raised as :class:`~stepcache.BackendError` subclasses, converted at the boundary.
    """

    #: Shown in logs, ``/v1/models`` and benchmark reports.
    name: str = "backend"
    #: Whether calls authenticate with the key set by :func:`~stepcache.backends.upstream_key`
    #: (the proxy's pass-through mode needs an upstream that checks each client's key).
    forwards_client_keys: bool = False

    @abstractmethod
    def complete(self, request: BackendRequest) -> Completion:
        """Return the model's answer to ``request``."""

    def stream(self, request: BackendRequest) -> Iterator[str | Completion]:
        """The answer as it is generated: text pieces, then the whole :class:`Completion` (whose
        text is the pieces joined) as the last item. Closing the iterator early stops the work
        where the backend can. This default yields the whole text once :meth:`complete` returns."""
        completion = self.complete(request)
        if completion.text:
            yield completion.text
        yield completion

    def models(self) -> list[str]:
        """Model names this backend serves (for ``GET /v1/models``)."""
        return []

    def close(self) -> None:
        """Release connections, model weights, threads."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
