"""``ProviderRegistry``: providers by name, for gateways that add and remove them while routers run.

A registry is a read-only :class:`~collections.abc.Mapping` of ``name -> Provider`` to a router (so a plain dict
works wherever a registry does, and vice versa), with :meth:`register` and :meth:`unregister` for the host.
Routers read it at each call, so a registration applies to the next request. Nothing is global: a gateway
creates its registry and hands it to its routers (``Router(providers=registry)``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from app.errors import ConfigurationError
from app.providers.base import Provider

__all__ = ["ProviderRegistry"]


class ProviderRegistry(Mapping[str, Provider]):
    """Providers by name. ``registry["name"]``, ``len``, iteration in registration order."""

    def __init__(self, providers: Mapping[str, Provider] | None = None) -> None:
        self._providers: dict[str, Provider] = {}
        for name, provider in (providers or {}).items():
            self.register(provider, name=name)

    def register(self, provider: Provider, *, name: str | None = None, replace: bool = False) -> str:
        """Add ``provider`` under ``name`` (default: ``provider.name``); returns the name.

        Raises:
            ConfigurationError: the name is empty, already taken (unless ``replace``), or ``provider`` lacks the
                :class:`~app.providers.base.Provider` interface.
        """
        key = name if name is not None else getattr(provider, "name", None)
        if not isinstance(key, str) or not key:
            raise ConfigurationError("a provider needs a non-empty name")
        if not isinstance(provider, Provider):
            raise ConfigurationError(f"{type(provider).__name__} does not implement the Provider interface")
        if key in self._providers and not replace:
            raise ConfigurationError(f"a provider named {key!r} is already registered (pass replace=True)")
        self._providers[key] = provider
        return key

    def unregister(self, name: str) -> Provider:
        """Remove and return the provider registered as ``name``.

        Raises:
            ConfigurationError: no provider has that name.
        """
        try:
            return self._providers.pop(name)
        except KeyError:
            raise ConfigurationError(f"no provider named {name!r} is registered") from None

    def __getitem__(self, name: str) -> Provider:
        return self._providers[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._providers)

    def __len__(self) -> int:
        return len(self._providers)

    def __repr__(self) -> str:
        return f"ProviderRegistry({list(self._providers)!r})"
