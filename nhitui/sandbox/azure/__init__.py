"""Fake Microsoft Graph + Azure Resource Manager (+ the Entra token endpoint) for the sandbox.

Two servers, as in Azure: Graph (which also answers as the authority host for the client-secret
flow: `/{tenant}/v2.0/.well-known/openid-configuration` and `/{tenant}/oauth2/v2.0/token`) and ARM.
A Graph token is refused by ARM and the other way round (401, wrong audience).

Test knobs: `no_p1` (the usage reports answer 403 `Authentication_RequestFromNonPremiumTenantOrB2CTenant`),
`no_beta` (beta federated-credential reads answer 400), `refuse_expand` (the service principal
and application lists refuse `$expand` of app-role assignments and federated credentials), `no_subscriptions` (the identity sees no subscription),
`token_uses` (after that many requests every token issued so far lapses, once: 401, as at an
expiry time), `deny` / `arm_deny` (path prefixes answering 403 `Authorization_RequestDenied` /
`AuthorizationFailed`), `cycle_next` ("first": the last page of every collection links back to the
first; "self": to itself), `throttle(n, seconds, prefix)` (the next n Graph GETs under
`prefix` answer 429 with Retry-After), `ru_limit(budget, window)` (Graph's resource-unit token
bucket per app and tenant, and the reports' 5 requests per window, enforced with Graph's headers
and 429s: throttle.py; off by default), plus the shared `Knobs` faults.
Token values contain `CANARY` so tests can prove none reaches an output.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from nhitui.sandbox.azure.arm import make_arm_app
from nhitui.sandbox.azure.graph import make_graph_app
from nhitui.sandbox.azure.state import AzureState
from nhitui.sandbox.azure.throttle import Bucket
from nhitui.sandbox.server import FakeServer, Knobs
from nhitui.sandbox.world import World

CANARY = "CANARY-azure-token-7c1e"
ENV = "NHITUI_SANDBOX_AZURE"


class AzureFake:
    provider = "azure"

    def __init__(self, world: World, knobs: Knobs | None = None, extra_apps: int = 0, no_p1: bool = False,
                 deny: Iterable[str] = (), arm_deny: Iterable[str] = (), token: str | None = None,
                 readonly_token: str | None = None) -> None:
        self.world = world
        self.knobs = knobs or Knobs()
        self.state = AzureState(world, extra_apps=extra_apps)
        self.lock = threading.Lock()
        self.no_p1 = no_p1
        self.no_beta = False
        self.refuse_expand = False
        self.no_subscriptions = False
        self.list_keys_calls = 0
        self.deny = tuple(deny)
        self.arm_deny = tuple(arm_deny)
        self.cycle_next = ""
        self.throttle_left = 0
        self.throttle_seconds = 1
        self.throttle_prefix = "/"
        self.throttled = 0
        self.ru_bucket: Bucket | None = None     # `ru_limit`: Graph's RU bucket (None: not enforced)
        self.reports_bucket: Bucket | None = None
        self.token_requests = 0
        seed = world.seed
        # `token` / `readonly_token` (as the other fakes take them) seed the write / read tokens.
        write, read = token or f"eyJ0eXAi.{CANARY}-write-{seed}", readonly_token or f"eyJ0eXAi.{CANARY}-read-{seed}"
        self.graph_token, self.graph_write_token = f"{read}-graph", f"{write}-graph"
        self.arm_token, self.arm_write_token = f"{read}-arm", f"{write}-arm"
        self.graph_tokens = {self.graph_token: "read", self.graph_write_token: "write"}
        self.arm_tokens = {self.arm_token: "read", self.arm_write_token: "write"}
        self.client_id = "11111111-aaaa-4bbb-8ccc-000000000001"
        self.client_secret = f"{CANARY}-client-secret"
        self.authority_url = ""        # set when a TLS front serves the token endpoint
        self.token_uses = 0            # >0: tokens issued so far lapse after that many requests (once)
        self.lapsed: set[str] = set()
        self._uses = 0
        self.graph = FakeServer(make_graph_app(self), self.knobs)
        self.arm = FakeServer(make_arm_app(self), self.knobs)

    @property
    def tenant_id(self) -> str:
        return self.state.tenant_id

    @property
    def arm_url(self) -> str:
        return self.arm.url

    @property
    def url(self) -> str:
        return self.graph.url

    def start(self) -> AzureFake:
        self.graph.start()
        self.arm.start()
        return self

    def stop(self) -> None:
        self.graph.stop()
        self.arm.stop()

    def __enter__(self) -> AzureFake:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def spend(self, token: str) -> bool:
        """Count one authenticated request; False for a token that has lapsed (the `token_uses` knob:
        after that many requests every token issued so far lapses, once, as at an expiry time)."""
        if not token.startswith("issued-"):
            return True
        with self.lock:
            if self.token_uses:
                self._uses += 1
                if self._uses >= self.token_uses:
                    self.lapsed |= {t for t in (*self.graph_tokens, *self.arm_tokens) if t.startswith("issued-")}
                    self.token_uses = 0
            return token not in self.lapsed

    def throttle(self, n: int, seconds: int = 1, prefix: str = "/") -> None:
        with self.lock:
            self.throttle_left = n
            self.throttle_seconds = seconds
            self.throttle_prefix = prefix

    def ru_limit(self, budget: float | None, window: float = 10.0, reports: float = 5.0) -> None:
        """Enforce Graph's RU bucket (`budget` RU per `window` s; Graph: 3,500 for a small tenant per
        10 s) and the reports' limit (`reports` requests per window); None turns both off."""
        with self.lock:
            self.ru_bucket = Bucket(budget, window) if budget else None
            self.reports_bucket = Bucket(reports, window) if budget else None

    @property
    def env(self) -> dict[str, str]:
        return {f"{ENV}_GRAPH_TOKEN": self.graph_token, f"{ENV}_ARM_TOKEN": self.arm_token,
                f"{ENV}_GRAPH_WRITE_TOKEN": self.graph_write_token, f"{ENV}_ARM_WRITE_TOKEN": self.arm_write_token,
                f"{ENV}_CLIENT_SECRET": self.client_secret}

    def source(self, name: str, write: bool = True) -> dict[str, Any]:
        src: dict[str, Any] = {"type": "azure", "name": name, "tenant_id": self.tenant_id,
                               "graph_url": self.graph.url, "arm_url": self.arm.url,
                               "token": f"env:{ENV}_GRAPH_TOKEN", "arm_token": f"env:{ENV}_ARM_TOKEN"}
        if write:
            src.update(revoke_token=f"env:{ENV}_GRAPH_WRITE_TOKEN", revoke_arm_token=f"env:{ENV}_ARM_WRITE_TOKEN")
        return src
