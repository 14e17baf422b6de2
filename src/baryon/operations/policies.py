"""The baryon model's access policies: list, read, put, reset, delete, and "may X do Y to Z"
(auth/policies/ decides; this is how the API, the portal and the CLI reach it)."""

from __future__ import annotations

from baryon.auth import identities
from baryon.auth.policies import InvalidPolicy, decide, stored
from baryon.auth.policies.actions import namespace_of
from baryon.auth.principals import PORTAL_PREFIX, Principal, PrincipalKind
from baryon.domain.arns import Arns
from baryon.domain.errors import Conflict, InvalidInput, NotFound
from baryon.operations.authorization import facts_for_arn
from baryon.operations.context import RequestContext
from baryon.operations.registry import baryon_operation
from baryon.service_models import baryon
from baryon.store.database import Database


def _view(policy: stored.StoredPolicy) -> baryon.Policy:
    view: baryon.Policy = {
        "name": policy.name,
        "text": policy.text,
        "builtin": policy.builtin,
        "edited": policy.edited,
    }
    if policy.updated_by is not None:
        view["updatedBy"] = policy.updated_by
    if policy.updated_at is not None:
        view["updatedAt"] = policy.updated_at
    return view


@baryon_operation("ListPolicies")
def list_policies(
    ctx: RequestContext, request: baryon.ListPoliciesInput
) -> baryon.ListPoliciesOutput:
    return {"policies": [_view(policy) for policy in stored.list_policies(ctx.db)]}


@baryon_operation("GetPolicy")
def get_policy(ctx: RequestContext, request: baryon.GetPolicyInput) -> baryon.GetPolicyOutput:
    policy = stored.get_policy(ctx.db, request["name"])
    if policy is None:
        raise NotFound(f"No policy is named {request['name']}.", field=("name",))
    return {"policy": _view(policy)}


@baryon_operation("PutPolicy")
def put_policy(ctx: RequestContext, request: baryon.PutPolicyInput) -> baryon.PutPolicyOutput:
    try:
        policy = stored.put_policy(ctx.db, request["name"], request["text"], by=ctx.principal.label)
    except stored.PolicyNameInvalid as error:
        raise InvalidInput(str(error), field=("name",)) from error
    except InvalidPolicy as error:
        raise InvalidInput(str(error), field=("text",)) from error
    return {"policy": _view(policy)}


@baryon_operation("ResetPolicy")
def reset_policy(ctx: RequestContext, request: baryon.ResetPolicyInput) -> baryon.ResetPolicyOutput:
    try:
        return {"policy": _view(stored.reset_policy(ctx.db, request["name"]))}
    except stored.NotBuiltin as error:
        raise NotFound(str(error), field=("name",)) from error


@baryon_operation("DeletePolicy")
def delete_policy(
    ctx: RequestContext, request: baryon.DeletePolicyInput
) -> baryon.DeletePolicyOutput:
    try:
        deleted = stored.delete_policy(ctx.db, request["name"])
    except stored.BuiltinPolicyKept as error:
        raise Conflict(str(error), field=("name",)) from error
    if not deleted:
        raise NotFound(f"No policy is named {request['name']}.", field=("name",))
    return {}


@baryon_operation("TestAuthorization")
def test_authorization(
    ctx: RequestContext, request: baryon.TestAuthorizationInput
) -> baryon.TestAuthorizationOutput:
    return explain(ctx.db, ctx.arns, request["principal"], request["action"], request["resource"])


def explain(
    db: Database, arns: Arns, principal: str, action: str, resource: str
) -> baryon.TestAuthorizationOutput:
    """The decision authorize would take now, changing nothing; the CLI calls it offline."""
    who = _principal(db, principal)
    if namespace_of(action) is None:
        raise InvalidInput(
            f"{action} is not an operation of the Proton or the baryon model", field=("action",)
        )
    arn = resource if resource.startswith("arn:") else arns.make(resource.strip("/"))
    facts = facts_for_arn(db, arns, arn)
    decision = decide(stored.policies_in_force(db), who, action, facts)
    return {
        "allowed": decision.allowed,
        "principal": who.label,
        "resource": facts.label,
        "decidingPolicies": list(decision.reasons),
        "errors": list(decision.errors),
    }


def _principal(db: Database, text: str) -> Principal:
    kind, _, name = text.partition("/")
    if kind == "role":
        # Someone with just this role, in no team: what the role alone allows.
        return Principal(PrincipalKind.USER, f"({name})", roles=frozenset({name}))
    if kind not in ("user", "robot") or not name:
        raise InvalidInput(
            f"principal {text!r}: user/NAME, robot/NAME or role/ROLE", field=("principal",)
        )
    with db.session() as session:
        try:
            identities.get_user(session, name)
        except identities.UnknownIdentity as error:
            raise NotFound(f"No user or robot is named {name}.", field=("principal",)) from error
    return identities.principal_for(db, PORTAL_PREFIX + name)
