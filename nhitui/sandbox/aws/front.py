"""The WSGI front between werkzeug's server and moto.

It counts calls per (service, action), checks that the request is signed with a key the account
knows (unknown or inactive key: `InvalidClientTokenId`, as AWS answers), applies the fault knobs in
AWS's own error shapes (`Throttling: Rate exceeded`, `InternalFailure`, `ServiceUnavailable`),
answers `AccessDenied` for denied actions (`deny`), can expire credentials mid-scan
(`expire_after`), holds every request but the seeder's until seeding is done, and implements the
IAM service-specific-credential actions moto lacks. With moto's IAM authorization on
(`moto.core.enable_iam_authentication`), AssumeRole on a role that does not exist is refused with
AccessDenied, as AWS does (moto alone hands out credentials for any role ARN).
"""

from __future__ import annotations

import base64
import io
import json
import random
import time
import uuid
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from nhitui.sandbox.server import FaultDice, Knobs, drop_connection

if TYPE_CHECKING:
    from nhitui.sandbox.aws.fake import AwsFake

DEFAULT_ACCOUNT = "123456789012"
ACCESS_KEY = "testing"
SECRET_KEY = "testing"
READONLY_KEY = "readonly"
READ_PREFIXES = ("Get", "List", "Describe", "Generate", "AssumeRole", "Head")
IAM_NS = "https://iam.amazonaws.com/doc/2010-05-08/"


def _iam_backend(account: str) -> Any:
    from moto.iam.models import iam_backends

    return iam_backends[account]["aws"]


def _iam_authorization_on() -> bool:
    """Whether moto checks IAM policies now (`moto.core.enable_iam_authentication` and the like)."""
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin

    return ActionAuthenticatorMixin.request_count >= settings.INITIAL_NO_AUTH_ACTION_COUNT


def _role_exists(arn: str) -> bool:
    from moto.iam.models import iam_backends

    parts = arn.split(":")
    backend = dict.get(dict.get(iam_backends, parts[4], {}) if len(parts) > 5 else {}, "aws")
    name = arn.rsplit("/", 1)[-1]
    return backend is not None and any(r.name == name for r in list(backend.roles.values()))


def _caller_arn(account: str, access_key: str) -> str:
    _, key = _find_key(access_key)
    user = getattr(key, "user_name", "") if key is not None else ""
    return f"arn:aws:iam::{account}:user/{user or 'unknown'}"


def _find_key(access_key: str) -> tuple[str | None, Any]:
    """(account, moto AccessKey) of a key moto knows, across accounts; (None, None) if unknown."""
    from moto.iam.models import iam_backends

    for account, parts in list(iam_backends.items()):
        backend = dict.get(parts, "aws")   # never instantiate a backend just to look
        if backend is None:
            continue
        key = backend.access_keys.get(access_key)
        if key is not None:
            return account, key
    return None, None


_MANAGED_DATA: dict[str, Any] | None = None


def load_managed_policies(account: str) -> None:
    """Give an account the AWS managed policies (AdministratorAccess...) a real account has.

    moto's own switch (`iam.load_aws_managed_policies`) builds all 1,582 of them for every account
    and every partition it touches (about a second per scan of a new account); this builds them once
    per account, in the `aws` partition only, exactly as that switch would.
    """
    global _MANAGED_DATA
    from moto.iam.models import AWSManagedPolicy, aws_managed_policies_data, iam_backends

    backend = iam_backends[account]["aws"]
    if backend.aws_managed_policies:
        return
    if _MANAGED_DATA is None:
        _MANAGED_DATA = json.loads(aws_managed_policies_data)
    policies = [AWSManagedPolicy.from_data(name, account, backend.region_name, data)
                for name, data in _MANAGED_DATA.items()]
    backend.aws_managed_policies = policies
    backend.managed_policies.update({p.arn: p for p in policies})


def _now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


SEEDER_HEADER = "x-nhitui-seeder"
SEEDER_ENVIRON = "HTTP_X_NHITUI_SEEDER"


def _mark_seeder(request: Any, **_: Any) -> None:
    """Requests of the fake's own clients pass the front's gate while seeding runs."""
    request.headers[SEEDER_HEADER] = "1"


class _Front(FaultDice):
    """WSGI middleware between werkzeug's server and moto (see the module docstring)."""

    def __init__(self, app: Any, fake: AwsFake) -> None:
        self.app = app
        self.fake = fake
        super().__init__(fake.knobs)
        # Service-specific credentials (moto has none): account -> id -> fields.
        self.ssc: dict[str, dict[str, dict[str, Any]]] = {}

    @property
    def knobs(self) -> Knobs:   # type: ignore[override]
        """The fake's knobs, read live: tests change them between cases."""
        return self.fake.knobs

    def __call__(self, environ: dict, start_response: Any) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/moto-api"):
            return self.app(environ, start_response)
        if not self.fake.ready.is_set() and environ.get(SEEDER_ENVIRON) != "1":
            self.fake.ready.wait(300)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        auth = environ.get("HTTP_AUTHORIZATION", "")
        akid, service = "", ""
        if "Credential=" in auth:
            scope = auth.split("Credential=", 1)[1].split(",", 1)[0].split("/")
            if len(scope) >= 4:
                akid, service = scope[0], scope[3]
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        json_protocol = bool(target)
        params: dict[str, str] = {}
        if target:
            action = target.rsplit(".", 1)[-1]
        else:
            form = parse_qs(body.decode("utf-8", "replace")) if body else parse_qs(environ.get("QUERY_STRING", ""))
            params = {k: v[0] for k, v in form.items()}
            action = params.get("Action", "")
        with self._lock:
            self.calls[(service, action)] += 1
        fake = self.fake
        seeding = fake.seeding
        account = environ.get("HTTP_X_MOTO_ACCOUNT_ID") or ""
        err = self._error_for(json_protocol, service)

        if not seeding:
            if fake.knobs.latency:
                time.sleep(fake.knobs.latency)
            with self._lock:
                expiring = fake._expire_after is not None
                if expiring:
                    fake._expire_after -= 1
                expired = expiring and fake._expire_after < 0
            if expired or akid in fake.expired_keys:
                return err(start_response, 403 if not json_protocol else 400,
                           "ExpiredTokenException" if json_protocol else "ExpiredToken",
                           "The security token included in the request is expired")
            bucket = fake.rate_bucket
            if bucket is not None and service == bucket.service and not bucket.take():
                with self._lock:
                    self.faults["rate"] += 1
                return err(start_response, 400, "ThrottlingException" if json_protocol else "Throttling",
                           "Rate exceeded")
        key_account, key = (None, None)
        if akid and akid not in (fake.access_key, fake.readonly_key):
            key_account, key = _find_key(akid)
            if key is None or getattr(key, "status", "Active") != "Active":
                return err(start_response, 403 if not json_protocol else 400,
                           "UnrecognizedClientException" if json_protocol else "InvalidClientTokenId",
                           "The security token included in the request is invalid.")
        elif not akid:
            return err(start_response, 403, "MissingAuthenticationToken", "Request is missing Authentication Token")
        account = account or key_account or DEFAULT_ACCOUNT

        mutating = not action.startswith(READ_PREFIXES) and action not in ("GetCallerIdentity",)
        denied_target = account
        if action == "AssumeRole":
            parts = params.get("RoleArn", "").split(":")
            denied_target = parts[4] if len(parts) > 4 else account
        rule = f"{service}:{action}"
        if not seeding and action == "AssumeRole" and _iam_authorization_on() and not _role_exists(
                params.get("RoleArn", "")):
            # moto hands out credentials for any ARN; AWS refuses a role that does not exist.
            return err(start_response, 403, "AccessDenied",
                       f"User: {_caller_arn(account, akid)} is not authorized to perform: sts:AssumeRole on "
                       f"resource: {params.get('RoleArn', '')}")
        if not seeding and (rule in fake.deny or f"{rule}@{denied_target}" in fake.deny
                            or (akid == fake.readonly_key and mutating)):
            who = f"arn:aws:iam::{account}:user/nhitui-auditor"
            return err(start_response, 403 if not json_protocol else 400,
                       "AccessDeniedException" if json_protocol else "AccessDenied",
                       f"User: {who} is not authorized to perform: {rule} because no identity-based policy "
                       f"allows the {rule} action")

        broken = fake.fail.get(rule) if not seeding else None
        if broken:
            if broken == 503:
                return err(start_response, 503, "ServiceUnavailable", "Service is unavailable", kind="Receiver")
            return err(start_response, broken, "InternalFailure", "We encountered an internal error. Please try again.",
                       kind="Receiver")
        if not seeding and (not mutating or fake.knobs.writes_faulty):
            fault = self._fault(start_response, err, json_protocol, environ)
            if fault is not None:
                return fault

        if service == "iam" and action.endswith("ServiceSpecificCredential") or \
                action == "ListServiceSpecificCredentials":
            return self._ssc(start_response, err, account, action, params)

        if not seeding and not mutating and self._take("truncated", self.fake.knobs.truncate_rate):
            return self._truncated(environ, start_response)
        return self.app(environ, start_response)

    # --- faults in AWS's shapes --------------------------------------------------------------------

    def _fault(self, start_response: Any, err: Any, json_protocol: bool,
               environ: dict | None = None) -> Iterable[bytes] | None:
        k = self.fake.knobs
        if self._take("hang", k.hang_rate):
            self.stopping.wait(k.hang_seconds)
        if self._take("reset", k.reset_rate):
            drop_connection(environ or {})
        if self._take("", k.error_rate):
            code = k.error_status or (503 if self._roll() < 0.5 else 500)
            self.faults[str(code)] += 1
            if code == 503:
                return err(start_response, 503, "ServiceUnavailable", "Service is unavailable", kind="Receiver")
            return err(start_response, code, "InternalFailure",
                       "We encountered an internal error. Please try again.", kind="Receiver")
        if self._take("html", k.html_error_rate):
            body = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
            start_response("502 Bad Gateway", [("Content-Type", "text/html"), ("Content-Length", str(len(body)))])
            return [body]
        with self._lock:
            if self.fake._throttle_after > 0:
                self.fake._throttle_after -= 1
                forced = False
            else:
                forced = self.fake._throttle_next > 0
                if forced:
                    self.fake._throttle_next -= 1
            if forced:
                self.faults["throttle"] += 1
        if forced or self._take("throttle", k.throttle_rate):
            return err(start_response, 400, "ThrottlingException" if json_protocol else "Throttling",
                       "Rate exceeded")
        if self._take("empty", k.empty_rate):
            start_response("200 OK", [("Content-Type", "text/xml"), ("Content-Length", "0")])
            return [b""]
        return None

    def _truncated(self, environ: dict, start_response: Any) -> Iterable[bytes]:
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list, exc_info: Any = None) -> Any:
            captured["status"], captured["headers"] = status, headers
            return lambda _data: None

        body = b"".join(self.app(environ, capture))
        status = captured.get("status", "200 OK")
        headers = [(h, v) for h, v in captured.get("headers", []) if h.lower() != "content-length"]
        if status.startswith("200") and len(body) > 2:
            body = body[: len(body) // 2]
        headers.append(("Content-Length", str(len(body))))
        start_response(status, headers)
        return [body]

    @staticmethod
    def _error_for(json_protocol: bool, service: str) -> Any:
        def query_error(start_response: Any, status: int, code: str, message: str, kind: str = "Sender") -> list:
            ns = IAM_NS if service == "iam" else f"https://{service or 'iam'}.amazonaws.com/doc/"
            body = (f'<ErrorResponse xmlns="{ns}"><Error><Type>{kind}</Type><Code>{escape(code)}</Code>'
                    f"<Message>{escape(message)}</Message></Error><RequestId>{uuid.uuid4()}</RequestId>"
                    "</ErrorResponse>").encode()
            start_response(f"{status} {_REASONS.get(status, 'Error')}",
                           [("Content-Type", "text/xml"), ("Content-Length", str(len(body))),
                            ("x-amzn-RequestId", str(uuid.uuid4()))])
            return [body]

        def json_error(start_response: Any, status: int, code: str, message: str, kind: str = "Sender") -> list:
            body = json.dumps({"__type": code, "message": message}).encode()
            start_response(f"{status} {_REASONS.get(status, 'Error')}",
                           [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(body))),
                            ("x-amzn-ErrorType", code), ("x-amzn-RequestId", str(uuid.uuid4()))])
            return [body]

        return json_error if json_protocol else query_error

    # --- IAM service-specific credentials (not implemented by moto) ---------------------------------

    def _ssc(self, start_response: Any, err: Any, account: str, action: str, p: dict[str, str]) -> Iterable[bytes]:
        store = self.ssc.setdefault(account, {})
        backend = _iam_backend(account)
        user = p.get("UserName", "")
        if user and user not in backend.users:
            return err(start_response, 404, "NoSuchEntity", f"The user with name {user} cannot be found.")
        if action == "CreateServiceSpecificCredential":
            service = p.get("ServiceName", "")
            cred_id = "ACCA" + "".join(random.Random(uuid.uuid4().int).choices("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567",
                                                                                k=17))
            item = {"UserName": user, "Status": "Active", "ServiceName": service,
                    "ServiceUserName": f"{user}-at-{account}", "CreateDate": _now_iso(),
                    "ServiceSpecificCredentialId": cred_id}
            with self._lock:
                store[cred_id] = item
            password = base64.b64encode(uuid.uuid4().bytes).decode()   # shown once, never kept
            inner = _xml_member(item, extra={"ServicePassword": password})
            return _xml_ok(start_response, action, f"<ServiceSpecificCredential>{inner}</ServiceSpecificCredential>")
        if action == "ListServiceSpecificCredentials":
            if p.get("AllUsers", "").lower() == "true" and user:
                return err(start_response, 400, "InvalidInput", "AllUsers cannot be used with UserName")
            items = [v for v in store.values()
                     if (p.get("AllUsers", "").lower() == "true" or v["UserName"] == (user or "nhitui-auditor"))
                     and (not p.get("ServiceName") or v["ServiceName"] == p["ServiceName"])]
            items.sort(key=lambda v: v["ServiceSpecificCredentialId"])
            page = int(p.get("MaxItems") or self.fake.knobs.page_size or 100)
            start = int(p.get("Marker") or 0)
            chunk = items[start:start + page]
            truncated = start + page < len(items)
            members = "".join(f"<member>{_xml_member(v)}</member>" for v in chunk)
            marker = f"<Marker>{start + page}</Marker>" if truncated else ""
            return _xml_ok(start_response, action, f"<ServiceSpecificCredentials>{members}</ServiceSpecificCredentials>"
                                                   f"<IsTruncated>{str(truncated).lower()}</IsTruncated>{marker}")
        cred_id = p.get("ServiceSpecificCredentialId", "")
        item = store.get(cred_id)
        if item is None or (user and item["UserName"] != user):
            return err(start_response, 404, "NoSuchEntity",
                       f"No such ServiceSpecificCredential: {escape(cred_id)}")
        if action == "UpdateServiceSpecificCredential":
            if p.get("Status") not in ("Active", "Inactive"):
                return err(start_response, 400, "ValidationError", "Status must be Active or Inactive")
            item["Status"] = p["Status"]
            return _xml_ok(start_response, action, "")
        if action == "DeleteServiceSpecificCredential":
            with self._lock:
                store.pop(cred_id, None)
            return _xml_ok(start_response, action, "")
        return err(start_response, 400, "InvalidAction", f"{action} is not supported by the sandbox")


_REASONS = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 500: "Internal Server Error",
            503: "Service Unavailable"}


def _xml_member(item: dict[str, Any], extra: dict[str, str] | None = None) -> str:
    fields = {**item, **(extra or {})}
    return "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in fields.items() if v is not None)


def _xml_ok(start_response: Any, action: str, inner: str) -> list[bytes]:
    result = f"<{action}Result>{inner}</{action}Result>" if inner else ""
    body = (f'<{action}Response xmlns="{IAM_NS}">{result}<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId>'
            f"</ResponseMetadata></{action}Response>").encode()
    start_response("200 OK", [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))])
    return [body]

