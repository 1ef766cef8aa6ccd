"""``ProviderRegistry``: providers by name, for gateways that add and remove them while routers run.

A registry is a read-only :class:`~collections.abc.Mapping` of ``name -> Provider`` to a router (so a plain dict
works wherever a registry does, and vice versa), with :meth:`register` and :meth:`unregister` for the host.
Routers read it at each call, so a registration applies to the next request. Nothing is global: a gateway
creates its registry and hands it to its routers (``Router(providers=registry)``). Watchers (:meth:`watch`) hear of
every registration and removal, so metrics can instrument a provider registered while the gateway runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Literal

from app.errors import ConfigurationError
from app.providers.base import Provider

__all__ = ["ProviderRegistry", "RegistryChange", "RegistryWatcher"]

logger = logging.getLogger("costmux.providers")

RegistryChange = Literal["registered", "unregistered"]
#: Told ``(change, name, provider)`` after each change (a replacement is an ``unregistered`` then a ``registered``).
RegistryWatcher = Callable[[RegistryChange, str, Provider], None]


class ProviderRegistry(Mapping[str, Provider]):
    """Providers by name. ``registry["name"]``, ``len``, iteration in registration order."""

    def __init__(self, providers: Mapping[str, Provider] | None = None) -> None:
        self._providers: dict[str, Provider] = {}
        self._watchers: list[RegistryWatcher] = []
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
        replaced = self._providers.get(key)
        self._providers[key] = provider
        if replaced is not None:
            self._tell("unregistered", key, replaced)
        self._tell("registered", key, provider)
        return key

    def unregister(self, name: str) -> Provider:
        """Remove and return the provider registered as ``name``.

        Raises:
            ConfigurationError: no provider has that name.
        """
        try:
            provider = self._providers.pop(name)
        except KeyError:
            raise ConfigurationError(f"no provider named {name!r} is registered") from None
        self._tell("unregistered", name, provider)
        return provider

    def watch(self, watcher: RegistryWatcher) -> None:
        """Tell ``watcher`` of every later registration and removal (watching twice is a no-op)."""
        if watcher not in self._watchers:
            self._watchers.append(watcher)

    def unwatch(self, watcher: RegistryWatcher) -> None:
        """Stop telling ``watcher`` (unknown watchers are ignored)."""
        if watcher in self._watchers:
            self._watchers.remove(watcher)

    def _tell(self, change: RegistryChange, name: str, provider: Provider) -> None:
        """A watcher's exception is logged, never raised: the change has been made."""
        for watcher in list(self._watchers):
            try:
                watcher(change, name, provider)
            except Exception:
                logger.exception("registry watcher %r failed on %s %r", watcher, change, name)

    def __getitem__(self, name: str) -> Provider:
        return self._providers[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._providers)

    def __len__(self) -> int:
        return len(self._providers)

    def __repr__(self) -> str:
        return f"ProviderRegistry({list(self._providers)!r})"
