"""The Vault part of the sandbox: a real OpenBao dev server seeded with the demo world.

`VaultFake` has the same face as the HTTP fakes (`start`, `stop`, `env`, `source`) so the demo and
the tests treat it alike; behind it is `bao server -dev` (see server.py), seeded over its API by
seed.py. The source it describes reads with a least-privilege inventory token (the README's
`nhi-inventory` policy) and acts with a separate `nhi-revoker` token, both in env variables.
Every token value and secret ID the seeding creates is kept in `secrets` for the canary tests.
"""

from __future__ import annotations

from typing import Any

from nhitui.sandbox.server import Knobs
from nhitui.sandbox.vault.seed import Seeder
from nhitui.sandbox.vault.server import INSTALL_HINT, BaoServer, bao_binary
from nhitui.sandbox.world import World

ENV_TOKEN = "NHITUI_DEMO_VAULT_TOKEN"
ENV_REVOKE = "NHITUI_DEMO_VAULT_REVOKE_TOKEN"


class VaultFake:
    provider = "vault"

    def __init__(self, world: World, knobs: Knobs | None = None, **_: Any) -> None:
        self.world = world
        self.knobs = knobs or Knobs()
        self.server = BaoServer()
        self.seeder: Seeder | None = None

    @staticmethod
    def available() -> bool:
        return bao_binary() is not None

    def start(self) -> str:
        url = self.server.start()
        try:
            self.seeder = Seeder(url, self.server.root_token, self.world)
            self.seeder.seed()
        except BaseException:
            self.server.stop()
            raise
        return url

    def stop(self) -> None:
        if self.seeder is not None:
            self.seeder.close()
        self.server.stop()

    def __enter__(self) -> VaultFake:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def root_token(self) -> str:
        return self.server.root_token

    @property
    def secrets(self) -> list[str]:
        """Every token value and secret ID seeded (the canary set), root token included."""
        return [self.server.root_token, *(self.seeder.secrets if self.seeder else [])]

    @property
    def env(self) -> dict[str, str]:
        assert self.seeder is not None, "start() first"
        return {ENV_TOKEN: self.seeder.inventory_token, ENV_REVOKE: self.seeder.revoker_token}

    def source(self, name: str, **overrides: Any) -> dict[str, Any]:
        src = {"type": "vault", "name": name, "url": self.url, "token": f"env:{ENV_TOKEN}",
               "revoke_token": f"env:{ENV_REVOKE}"}
        src.update(overrides)
        return src


__all__ = ["ENV_REVOKE", "ENV_TOKEN", "INSTALL_HINT", "VaultFake", "bao_binary"]
