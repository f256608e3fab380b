"""Run the fake Hub standalone: `python -m tests.fakehub --catalog FILE... [--cards DIR]`."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time

from .server import FakeHub, is_loopback


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fakehub",
        description="Serve a fake Hugging Face Hub (API + dataset viewer) on a loopback address.",
    )
    parser.add_argument(
        "--catalog",
        nargs="+",
        default=[],
        metavar="FILE",
        help="JSON Lines files: catalog-*.jsonl, hf_datasets meta, canonical "
        "sizes, Hub items (shape detected per line)",
    )
    parser.add_argument(
        "--cards", metavar="DIR", help="folder of cards-*.jsonl with real card text"
    )
    parser.add_argument(
        "--examples",
        action="store_true",
        help="also serve the sample datasets (default when no --catalog)",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)"
    )
    parser.add_argument(
        "--port", type=int, default=8765, help="port (default 8765; 0 = any free port)"
    )
    parser.add_argument(
        "--page-size", type=int, default=1000, help="default /api/datasets page size"
    )
    parser.add_argument("--no-rate-limit", action="store_true", help="never answer 429 on quota")
    parser.add_argument("--verbose", action="store_true", help="log each request")
    args = parser.parse_args(argv)

    if not is_loopback(args.host):
        parser.error(
            f"refusing to bind {args.host!r}: the fake Hub only listens on loopback addresses"
        )
    hub = FakeHub(
        host=args.host,
        port=args.port,
        page_size=args.page_size,
        rate_limit=not args.no_rate_limit,
        verbose=args.verbose,
    )
    started = time.monotonic()
    if args.catalog:
        hub.load_catalog(args.catalog, args.cards)
    if args.examples or not args.catalog:
        hub.add_examples()
    failed_cards = hub.warm()
    print(
        f"fakehub: {len(hub)} datasets ready in {time.monotonic() - started:.1f}s"
        + (f" ({failed_cards} cards with unreadable YAML)" if failed_cards else ""),
        flush=True,
    )
    try:
        hub.start()
    except OSError as error:
        print(f"fakehub: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 1
    print(f"fakehub: serving on {hub.url}", flush=True)
    print(f"  export HF_ENDPOINT={hub.url} HF_DATASETS_SERVER={hub.url}", flush=True)
    print(
        f'  faults: curl -X POST {hub.url}/_fakehub/faults -d \'{{"kind": "status", '
        f'"status": 503, "times": 1}}\'   (DELETE to clear)',
        flush=True,
    )
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        threading.Event().wait()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        hub.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
