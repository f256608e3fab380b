"""A fake Hugging Face Hub (API + dataset viewer) over real HTTP, for tests and offline work.

No machine here reaches huggingface.co, so the app's Hub client is tested against this fake,
over a real loopback socket. One server answers both the Hub paths (`/api/datasets...`,
`/datasets/{id}/resolve/...`) and the dataset-viewer paths (`/size`, `/info`, `/splits`,
`/is-valid`): point both HF_ENDPOINT and HF_DATASETS_SERVER at `hub.url`. Payloads mirror the
saved real samples (shared/hub/samples) field for field; everything not given is derived
deterministically from the dataset id, so runs are reproducible.

In the app's tests::

    from tests.fakehub import FakeHub

    @pytest.fixture
    def hub():
        with FakeHub() as hub:          # 127.0.0.1, random free port, daemon thread
            yield hub                   # stopped (and held requests released) on exit
        assert not hub.errors           # no exception inside the fake itself

    def test_sync(hub, make_app):
        hub.add_dataset("acme/reviews", downloads=1200, likes=7, gated="manual",
                        task_categories=["text-classification"], language=["en"])
        app = make_app(TestConfig(..., HF_ENDPOINT=hub.url, HF_DATASETS_SERVER=hub.url))
        ...
        hub.touch("acme/reviews")                    # a push: new sha and lastModified
        hub.fail("status", status=503, times=2, path=r"^/api/datasets$")
        hub.fail("timeout", path=r"^/size$")        # held until the client gives up
        assert hub.count(r"^/api/datasets$") == 3   # request log: hub.requests

Real data: `FakeHub.from_catalog(["…/catalog-00.jsonl"], cards_dir="…/cards")`, or standalone
`python -m tests.fakehub --catalog ../shared/hub/catalog/catalog-0*.jsonl --cards
../shared/hub/catalog/cards --port 8765` (loopback only), whose faults, request log and
data are driven over HTTP under /_fakehub/ (see server.FakeHub._control).
"""

from .model import FakeDataset
from .server import FAULT_KINDS, FakeHub, Fault, LoggedRequest

__all__ = ["FAULT_KINDS", "FakeDataset", "FakeHub", "Fault", "LoggedRequest"]
