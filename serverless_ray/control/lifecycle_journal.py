"""The platform's lifecycle events of each endpoint, for its log group: told from the
difference between what the store said last time and what it says now (pure)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EndpointState:
    status: str
    failure_reason: str | None
    config_name: str | None  # of the deployment that serves (or is rolling out)


class LifecycleJournal:
    def __init__(self, initial: dict[str, EndpointState]) -> None:
        """``initial``: the endpoints as they were when the controller started (no events for them)."""
        self._seen = dict(initial)

    def observe(self, now: dict[str, EndpointState]) -> list[tuple[str, str]]:
        """(endpoint, message) for every change since the previous observation."""
        events: list[tuple[str, str]] = []
        for name, state in now.items():
            before = self._seen.get(name)
            if before == state:
                continue
            events.extend((name, message) for message in _messages(before, state))
        for name in self._seen.keys() - now.keys():
            events.append((name, "Endpoint deleted."))
        self._seen = dict(now)
        return events

    @staticmethod
    def scaled(variant: str, app_name: str, replicas: int) -> str:
        noun = "replica" if replicas == 1 else "replicas"
        return f"Variant {variant} scaled to {replicas} {noun} (Serve application {app_name})."


def _messages(before: EndpointState | None, after: EndpointState) -> list[str]:
    config = f" with endpoint configuration {after.config_name}" if after.config_name else ""
    if after.status == "Failed":
        return [f"Endpoint failed{config}: {after.failure_reason or 'no reason given'}"]
    if after.status == "Creating":
        return [f"Creating endpoint{config}."]
    if after.status == "Updating":
        return [f"Updating endpoint{config}."]
    if after.status == "Deleting":
        return ["Deleting endpoint."]
    if after.status == "InService":
        if before is not None and before.status == "Updating":
            if after.failure_reason:
                return [f"Update rolled back: {after.failure_reason}"]
            return [f"Endpoint updated{config}: the new replicas replaced the previous ones. InService."]
        return [f"Endpoint is InService{config}."]
    return [f"Endpoint status {after.status}{config}."]
