from __future__ import annotations

from contextlib import contextmanager

import pytest

from app.hub.client import HubClient, HubSettings
from tests.fakehub import FakeHub


@pytest.fixture
def hub():
    with FakeHub() as fake:
        yield fake
    assert not fake.errors


class Clock:
    """Time that tests move by hand, for waits longer than a test should take."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def settings_for(hub: FakeHub, **overrides) -> HubSettings:
    values = dict(
        endpoint=hub.url,
        viewer_endpoint=hub.url,
        connect_timeout=1.0,
        read_timeout=1.0,
        budget=3.0,
        attempts=3,
        backoff_base=0.01,
        backoff_cap=0.05,
        breaker_threshold=5,
        breaker_cooldown=30.0,
    )
    values.update(overrides)
    return HubSettings(**values)


@pytest.fixture
def client(hub) -> HubClient:
    return HubClient(settings_for(hub))


@contextmanager
def talking_to(app, hub: FakeHub, **timeouts):
    """Point an app at the fake Hub (test apps point at a dead port), and back afterwards."""
    from app.hub.service import EXTENSION_KEY, settings_from_config

    keys = ("HF_ENDPOINT", "HF_DATASETS_SERVER", "HUB_ATTEMPTS", "HUB_READ_TIMEOUT", "HUB_BUDGET")
    saved = {key: app.config[key] for key in keys}
    saved_client = app.extensions[EXTENSION_KEY]
    app.config.update(HF_ENDPOINT=hub.url, HF_DATASETS_SERVER=hub.url, **timeouts)
    app.extensions[EXTENSION_KEY] = HubClient(settings_from_config(app.config))
    try:
        yield hub
    finally:
        app.config.update(saved)
        app.extensions[EXTENSION_KEY] = saved_client


@pytest.fixture
def hub_app(app, hub):
    """The test app talking to the fake Hub; a held ("timeout") answer costs half a second."""
    with talking_to(app, hub, HUB_ATTEMPTS=2, HUB_READ_TIMEOUT=0.5, HUB_BUDGET=1.5):
        yield app
