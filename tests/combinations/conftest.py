from tests.hub.conftest import hub, hub_app  # noqa: F401  (fixtures shared with tests/hub)
