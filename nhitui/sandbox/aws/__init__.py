"""The AWS part of the sandbox: moto's ThreadedMotoServer, seeded through boto3 like a real account.

- plan.py: what the world's account holds (users, keys, roles and their trust, secrets), pure.
- seed.py: creates the plan through boto3, records the ground truth, plants the ages.
- truth.py: compares a scan with that ground truth, field by field.
- front.py: the WSGI front between the HTTP server and moto (signature check, faults, denials,
  expiring credentials, the service-specific-credential actions moto lacks).
- fake.py: `AwsFake`, the server's lifecycle and the [[source]] table pointing a connector at it.
- werkzeug logs every request to stderr: that logger is silenced (it would scribble over the TUI).

Ages: moto stamps every creation and use "now"; seed.py backdates its IAM objects afterwards (moto
runs in this process), so keys are 3 to 500 days old, used yesterday or months ago or never, and the
staleness findings fire as in a lived-in account.

What moto cannot fake, so the ground truth says what really happens:
- `LastAccessedDate` of secrets is never returned, and secrets, SSH keys, signing certificates and
  service credentials keep their creation "now".
- The credential report's `GeneratedTime` is fixed at 2015-02-02.
"""

from __future__ import annotations

import logging

from nhitui.sandbox.aws.fake import AwsFake
from nhitui.sandbox.aws.plan import plan_roles, plan_secrets, plan_users
from nhitui.sandbox.aws.truth import ground_truth_diff

logging.getLogger("werkzeug").setLevel(logging.CRITICAL)
logging.getLogger("werkzeug").disabled = True

__all__ = ["AwsFake", "ground_truth_diff", "plan_roles", "plan_secrets", "plan_users"]
