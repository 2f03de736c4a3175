"""The AWS fake: moto's ThreadedMotoServer behind our front (front.py), seeded from the World (seed.py).

- The server binds 127.0.0.1 and port 0: the kernel picks a free ephemeral port at bind time and
  the server reports it, so there is no window in which another process can take a port we picked.
- moto keeps its state per process, so one `AwsFake` runs at a time; `start()` and `stop()` reset
  moto. AWS managed policies (AdministratorAccess, ReadOnlyAccess...) are loaded so that attaching
  them works as in a real account.
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterable
from typing import Any

from nhitui.sandbox.aws.front import (
    ACCESS_KEY,
    DEFAULT_ACCOUNT,
    READ_PREFIXES,
    READONLY_KEY,
    SECRET_KEY,
    SEEDER_HEADER,
    _Front,
    _mark_seeder,
    load_managed_policies,
)
from nhitui.sandbox.aws.plan import REGIONS
from nhitui.sandbox.aws.seed import seed_world
from nhitui.sandbox.server import Knobs
from nhitui.sandbox.world import World


class RateBucket:
    """A token bucket of `burst` calls refilled at `rate` per second, for one service (thread-safe)."""

    def __init__(self, rate: float, burst: float, service: str) -> None:
        self.rate, self.burst, self.service = float(rate), max(1.0, float(burst)), service
        self.level = self.burst
        self.at = time.monotonic()
        self.paid = 0
        self.refused = 0
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = time.monotonic()
            self.level = min(self.burst, self.level + (now - self.at) * self.rate)
            self.at = now
            if self.level >= 1.0:
                self.level -= 1.0
                self.paid += 1
                return True
            self.refused += 1
            return False


_ACTIVE_LOCK = threading.Lock()
_ACTIVE: list[AwsFake] = []


def _moto_server_class() -> Any:
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from moto.server import ThreadedMotoServer
    from werkzeug.serving import make_server

    class Dispatcher(DomainDispatcherApplication):
        """moto's dispatcher, remembering which backend serves a host: moto finds out by listing its
        package directory (~175 stat calls) on every request, under a lock every request takes;
        that was a quarter of the AWS fake's CPU. A host's backend never changes."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._backends: dict[str | None, Any] = {}

        def get_backend_for_host(self, host: str | None) -> Any:
            try:
                return self._backends[host]
            except KeyError:
                backend = self._backends[host] = super().get_backend_for_host(host)
                return backend

    class FrontedMotoServer(ThreadedMotoServer):
        """ThreadedMotoServer on port 0 behind our front, that frees its socket on stop()."""

        def __init__(self, wrap: Any) -> None:
            super().__init__("127.0.0.1", 0, verbose=False)
            self._wrap = wrap
            self.error: BaseException | None = None

        def _server_entry(self) -> None:
            try:
                app = self._wrap(Dispatcher(create_backend_app))
                self._server = make_server(self._ip_address, self._port, app, True,
                                           request_handler=MotoRequestHandler)
                self._server.daemon_threads = True
            except BaseException as exc:  # noqa: BLE001 - reported by start()
                self.error = exc
                self._server_ready_event.set()
                return
            self._server_ready_event.set()
            self._server.serve_forever(poll_interval=0.05)

        def start(self) -> None:
            super().start()
            if self.error is not None:
                raise self.error

        def stop(self) -> None:
            self._server_ready_event.clear()
            if self._server is not None:
                self._server.shutdown()
                self._server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._server = None
            self._thread = None

    return FrontedMotoServer


class AwsFake:
    """moto, seeded from the World; `source(name)` is the [[source]] table pointing the connector at it.

    - `deny`: "service:Action" or "service:Action@<account>" entries answering AccessDenied
      (for sts:AssumeRole the account is the role's).
    - `readonly_key`: an access key id (any secret) that may read but is denied every write.
    - `fail`: {"service:Action": 500 or 503} answered on every call (an endpoint down for good).
    - `throttle_next(n)`: the next n reads answer `Throttling: Rate exceeded` (besides `knobs.throttle_rate`).
    - `rate_limit(rate, burst)`: IAM's throttling as a rate: a token bucket of `burst` calls refilled at
      `rate` per second; a call it cannot pay answers HTTP 400 `Throttling: Rate exceeded` (AWS
      publishes no number for IAM; the bucket is what makes botocore's adaptive mode adapt).
    - `expired_keys`: access key ids whose requests answer ExpiredToken; `expire_after(n)` expires
      every credential after n more requests (credentials expiring mid-scan).
    """

    def __init__(self, world: World, knobs: Knobs | None = None, deny: Iterable[str] = (),
                 readonly_key: str = READONLY_KEY, regions: Iterable[str] = REGIONS, **_ignored: Any) -> None:
        self.world = world
        self.knobs = knobs or Knobs()
        self.deny = set(deny)
        self.fail: dict[str, int] = {}        # "service:Action" -> HTTP status it always answers (500/503)
        self.readonly_key = readonly_key
        self.access_key = ACCESS_KEY
        self.regions = tuple(regions)
        self.expired_keys: set[str] = set()
        self._expire_after: int | None = None
        self._throttle_next = 0
        self._throttle_after = 0
        self.rate_bucket: RateBucket | None = None   # `rate_limit`: IAM calls beyond it are throttled
        self.seeding = False
        self.front: _Front | None = None
        self._server: Any = None
        self.seed_seconds = 0.0
        self.start_seconds = 0.0
        self.canaries: list[str] = []          # secret values and passwords planted: must never surface
        self.seeded: dict[str, Any] = {}      # what was created, for tests (names -> ids/arns)
        # Set once seeding is done: until then the front holds every request but the seeder's own,
        # so `start(background=True)` can return as soon as the server listens.
        self.ready = threading.Event()
        self.seed_error: BaseException | None = None
        self._seeder: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------------

    @property
    def server(self) -> AwsFake:
        return self

    @property
    def url(self) -> str:
        assert self._server is not None, "server not started"
        host, port = self._server.get_host_and_port()
        return f"http://{host}:{port}"

    @property
    def calls(self) -> Counter[tuple[str, str]]:
        return self.front.calls if self.front is not None else Counter()

    def writes(self) -> int:
        return sum(n for (_svc, action), n in self.calls.items()
                   if action and not action.startswith(READ_PREFIXES) and action != "GetCallerIdentity")

    def expire_after(self, requests: int | None) -> None:
        self._expire_after = requests

    def throttle_next(self, requests: int, after: int = 0) -> None:
        """Answer `requests` reads with `Throttling: Rate exceeded`, once `after` more reads went through."""
        self._throttle_next = requests
        self._throttle_after = after

    def rate_limit(self, rate: float | None, burst: float = 5.0, service: str = "iam") -> None:
        """Throttle `service` calls beyond `rate` per second (bursts of `burst`); None: no limit."""
        self.rate_bucket = RateBucket(rate, burst, service) if rate else None

    def start(self, background: bool = False) -> str:
        """Start moto and seed it; with `background`, return once it listens and seed in a thread
        (requests other than the seeder's wait until seeding is done)."""
        with _ACTIVE_LOCK:
            if _ACTIVE:
                raise RuntimeError("another AwsFake is running in this process (moto's state is per process)")
            _ACTIVE.append(self)
        t0 = time.perf_counter()
        try:
            from moto.moto_api._internal.models import moto_api_backend

            moto_api_backend.reset()
            self._server = _moto_server_class()(self._wrap)
            self._server.start()
            self.start_seconds = time.perf_counter() - t0
            if background:
                self._seeder = threading.Thread(target=self._seed_in_background, name="sandbox-aws-seed",
                                                daemon=True)
                self._seeder.start()
            else:
                self.seed()
                self.ready.set()
        except BaseException:
            self.stop()
            raise
        return self.url

    def _seed_in_background(self) -> None:
        try:
            self.seed()
        except BaseException as exc:  # noqa: BLE001 - kept for the caller; the scan then sees what exists
            self.seed_error = exc
        finally:
            self.ready.set()

    def _wrap(self, app: Any) -> _Front:
        self.front = _Front(app, self)
        return self.front

    def stop(self) -> None:
        if self.front is not None:
            self.front.stopping.set()
        self.ready.set()
        if self._seeder is not None:
            self._seeder.join(timeout=30)
            self._seeder = None
        if self._server is not None:
            try:
                self._server.stop()
            finally:
                self._server = None
        with _ACTIVE_LOCK:
            if self in _ACTIVE:
                _ACTIVE.remove(self)
                try:
                    from moto.moto_api._internal.models import moto_api_backend

                    moto_api_backend.reset()
                except Exception:  # noqa: BLE001,S110 - best effort on the way out
                    pass

    def __enter__(self) -> AwsFake:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- what the connector needs --------------------------------------------------------------------

    @property
    def env(self) -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
                "AWS_DEFAULT_REGION": self.regions[0]}

    def source(self, name: str) -> dict[str, Any]:
        table: dict[str, Any] = {"type": "aws", "name": name, "endpoint_url": self.url,
                                 "regions": list(self.regions), "timeout": 10, "concurrency": 16}
        if self.world.aws_account != DEFAULT_ACCOUNT:
            # Default credentials land in moto's default account: reach the world's one by role.
            table.update(accounts=[self.world.aws_account], role_name="NHIAuditor")
        return table

    def client(self, service: str, account: str | None = None, region: str | None = None,
               access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY, session_token: str | None = None) -> Any:
        """A boto3 client on the fake; `account` sends moto's x-moto-account-id (seed another account)."""
        import boto3
        from botocore.config import Config

        c = boto3.client(service, endpoint_url=self.url, region_name=region or self.regions[0],
                         aws_access_key_id=access_key, aws_secret_access_key=secret_key,
                         aws_session_token=session_token,
                         config=Config(retries={"mode": "standard", "max_attempts": 3}, max_pool_connections=32))
        load_managed_policies(account or DEFAULT_ACCOUNT)
        c.meta.events.register("before-sign.*.*", _mark_seeder)
        if account:
            def add_header(request: Any, **_: Any) -> None:
                request.headers["x-moto-account-id"] = account

            c.meta.events.register("before-sign.*.*", add_header)
        return c

    def use_key(self, access_key: str, secret_key: str, service: str = "sts", region: str = "us-east-1",
                session_token: str | None = None) -> None:
        """Sign one request with a key, as its holder would: moto records the key's (or role's) last use."""
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        body = "Action=GetUser&Version=2010-05-08" if service == "iam" else \
            "Action=GetCallerIdentity&Version=2011-06-15"
        req = AWSRequest(method="POST", url=self.url + "/", data=body,
                         headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
        SigV4Auth(Credentials(access_key, secret_key, session_token), service, region).add_auth(req)
        request = urllib.request.Request(req.url, data=body.encode(), method="POST",
                                         headers={**dict(req.headers.items()), SEEDER_HEADER: "1"})
        for attempt in range(5):
            try:
                with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310 - our own local server
                    resp.read()
                return
            except urllib.error.HTTPError as exc:
                # moto's in-memory IAM is not thread-safe: a lookup racing the parallel seeding of other
                # users can fail with a 500; the request itself is valid, so try it again.
                if exc.code != 500 or attempt == 4:
                    raise
                time.sleep(0.05 * (attempt + 1))

    # --- seeding ---------------------------------------------------------------------------------------

    def seed(self) -> None:
        """Create the world's AWS account through boto3 and record the ground truth."""
        t0 = time.perf_counter()
        self.seeded = self.seed_world(self.world)
        self.seed_seconds = time.perf_counter() - t0

    def seed_world(self, world: World) -> dict[str, Any]:
        """Seed `world` into its own account (`world.aws_account`) of this server; returns what was created.

        Another world in another account shares the server without touching the first one's objects.
        """
        self.seeding = True
        try:
            return seed_world(self, world)
        finally:
            self.seeding = False
