"""The policy decision point: Casbin model and policy files in, decisions and obligations out."""

from governance.pdp.decision import AccessRequest, Decision, Effect, ObligationAction
from governance.pdp.engine import PolicyDecisionPoint

__all__ = ["AccessRequest", "Decision", "Effect", "ObligationAction", "PolicyDecisionPoint"]
