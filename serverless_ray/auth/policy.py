"""IAM identity-based policies: the document's shape and its evaluation.

Evaluation follows IAM for one identity policy: a statement applies when its action and
resource elements match the request; an applying ``Deny`` wins over everything, an
applying ``Allow`` allows, and nothing applying means denied. Actions match
case-insensitively, resources (ARNs) case-sensitively; ``*`` matches any run of
characters and ``?`` any one character. Pure: no I/O, no clock.
"""

from __future__ import annotations

import enum
import functools
import re
from typing import Any, Callable, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# "service:Action" with wildcards, or "*" alone.
_ACTION = re.compile(r"^(\*|[A-Za-z0-9-]+:[A-Za-z0-9*?]+)$")


class Decision(enum.Enum):
    ALLOWED = "allowed"
    EXPLICIT_DENY = "explicit deny"  # a Deny statement applies
    IMPLICIT_DENY = "implicit deny"  # no Allow statement applies


def _pattern(patterns: list[str], *, ignore_case: bool) -> re.Pattern[str]:
    """One regular expression matching any of the wildcard ``patterns`` in full."""
    alternatives = (
        "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in p) for p in patterns
    )
    return re.compile("|".join(f"(?:{a})" for a in alternatives), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class PolicyStatement(BaseModel):
    """One statement: ``Effect``, ``Action`` or ``NotAction``, ``Resource`` or ``NotResource``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    Sid: str | None = Field(None, description="Optional statement id (not evaluated).")
    Effect: Literal["Allow", "Deny"] = Field(description="Whether an applying statement allows or denies.")
    Action: list[str] | None = Field(
        None, min_length=1, description="Actions the statement applies to, e.g. sagemaker:Create* (wildcards * and ?).")
    NotAction: list[str] | None = Field(
        None, min_length=1, description="The statement applies to every action except these.")
    Resource: list[str] | None = Field(
        None, min_length=1, description="ARNs the statement applies to (wildcards * and ?), or *.")
    NotResource: list[str] | None = Field(
        None, min_length=1, description="The statement applies to every resource except these.")

    @model_validator(mode="before")
    @classmethod
    def _supported(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for unsupported in ("Condition", "Principal", "NotPrincipal"):
                if unsupported in data:
                    raise ValueError(
                        f"{unsupported} is not supported in these identity policies: a statement "
                        "has Effect, Action or NotAction, and Resource or NotResource")
        return data

    @field_validator("Action", "NotAction", "Resource", "NotResource", mode="before")
    @classmethod
    def _listed(cls, value: Any) -> Any:
        return _one_or_many(value)

    @field_validator("Action", "NotAction")
    @classmethod
    def _action_names(cls, actions: list[str] | None) -> list[str] | None:
        for action in actions or ():
            if not _ACTION.match(action):
                raise ValueError(
                    f"action {action!r} is not 'service:Action' (e.g. sagemaker:InvokeEndpoint, "
                    "sagemaker:Create*, application-autoscaling:*) or '*'")
        return actions

    @model_validator(mode="after")
    def _one_of_each(self) -> "PolicyStatement":
        if (self.Action is None) == (self.NotAction is None):
            raise ValueError("a statement has exactly one of Action and NotAction")
        if (self.Resource is None) == (self.NotResource is None):
            raise ValueError("a statement has exactly one of Resource and NotResource")
        return self



class PolicyDocument(BaseModel):
    """An IAM policy document (``Version`` and ``Statement``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    Version: Literal["2012-10-17", "2008-10-17"] = Field("2012-10-17", description="IAM policy language version.")
    Statement: list[PolicyStatement] = Field(description="The statements; one object stands for a list of one.")

    @field_validator("Statement", mode="before")
    @classmethod
    def _listed(cls, value: Any) -> Any:
        return [value] if isinstance(value, dict) else value

    def compile(self) -> "CompiledPolicy":
        """The policy ready to evaluate many requests (its patterns compiled once)."""
        return CompiledPolicy(self)

    def evaluate(self, action: str, resource: str) -> Decision:
        """Whether the policy allows ``action`` (``service:Operation``) on ``resource`` (an ARN or ``*``)."""
        return self.compile().evaluate(action, resource)


class CompiledPolicy:
    """A policy's statements as compiled patterns: evaluating one costs a few regex matches,
    and each decision is remembered by (action, resource), the most recent ``CACHED`` of
    them. The cache lives and dies with this object: a changed document is compiled anew
    and starts empty, so no decision outlives the policy it came from."""

    __slots__ = ("_statements", "evaluate")
    CACHED = 4096  # decisions kept (a request's resource is any name a client sends)

    def __init__(self, document: PolicyDocument) -> None:
        # (is Deny, action matcher, NotAction?, resource matcher, NotResource?) per statement
        self._statements = tuple(
            (
                statement.Effect == "Deny",
                _pattern(statement.Action or statement.NotAction or [], ignore_case=True).fullmatch,
                statement.NotAction is not None,
                _pattern(statement.Resource or statement.NotResource or [], ignore_case=False).fullmatch,
                statement.NotResource is not None,
            )
            for statement in document.Statement
        )
        self.evaluate: Callable[[str, str], Decision] = functools.lru_cache(maxsize=self.CACHED)(self._evaluate)

    def _evaluate(self, action: str, resource: str) -> Decision:
        """Whether the policy allows ``action`` on ``resource``: an applying Deny wins,
        else an applying Allow allows, else denied."""
        allowed = False
        for deny, match_action, not_action, match_resource, not_resource in self._statements:
            if (match_action(action) is None) == not_action and (match_resource(resource) is None) == not_resource:
                if deny:
                    return Decision.EXPLICIT_DENY
                allowed = True
        return Decision.ALLOWED if allowed else Decision.IMPLICIT_DENY


ALLOW_ALL = PolicyDocument(Statement=[PolicyStatement(Effect="Allow", Action=["*"], Resource=["*"])])
