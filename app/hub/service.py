"""The app's one Hub client per process, built from configuration."""

from __future__ import annotations

from flask import Flask, current_app

from app.hub import redis_cache
from app.hub.client import HubClient, HubSettings

EXTENSION_KEY = "hub_client"


def settings_from_config(config) -> HubSettings:
    return HubSettings(
        endpoint=config["HF_ENDPOINT"],
        viewer_endpoint=config["HF_DATASETS_SERVER"],
        token=config.get("HUGGINGFACE_API_TOKEN"),
        connect_timeout=config["HUB_CONNECT_TIMEOUT"],
        read_timeout=config["HUB_READ_TIMEOUT"],
        budget=config["HUB_BUDGET"],
        attempts=config["HUB_ATTEMPTS"],
    )


def init_app(app: Flask) -> None:
    # One client per process, so its circuit breaker and rate-limit pause are shared.
    app.extensions[EXTENSION_KEY] = HubClient(settings_from_config(app.config))
    redis_cache.init_app(app)  # Redis in front of the Hub answer cache, with REDIS_URL


def hub_client() -> HubClient:
    return current_app.extensions[EXTENSION_KEY]
