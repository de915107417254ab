"""Label Studio's REST API: every endpoint activecv calls, in one place.

Standard library only: Label Studio's own client (``label-studio-sdk``) pins numpy below the
version activecv installs and brings opencv, nltk and black along, so it cannot live beside
activecv's dependencies. Authentication is the account's API token (``Authorization: Token``).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode, urlparse

from activecv._errors import ActiveCVError

PAGE = 100  # tasks per page when listing a project's tasks


class LabelStudioError(ActiveCVError, RuntimeError):
    """Label Studio refused a call or could not be reached."""


class LabelStudioClient:
    """The calls activecv makes to one Label Studio server as one user."""

    def __init__(self, url: str, token: str, timeout: float = 120.0) -> None:
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise LabelStudioError(f"the Label Studio URL must be http(s)://host[:port]; got {url!r}.")
        if not token:
            raise LabelStudioError(
                "a Label Studio API token is required: pass --token or set LABEL_STUDIO_API_KEY "
                "(Label Studio: Account & Settings -> Access Token)."
            )
        self.url, self.token, self.timeout = url.rstrip("/"), token, timeout

    def call(self, method: str, path: str, body: Any = None, **query: Any) -> Any:
        """One REST call; the decoded JSON answer (None for an empty one)."""
        address = self.url + path + (f"?{urlencode(query)}" if query else "")
        request = urllib.request.Request(
            address,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Token {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                text = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")[:500]
            hint = " (is the token right?)" if exc.code in (401, 403) else ""
            raise LabelStudioError(
                f"Label Studio answered {exc.code} to {method} {path}{hint}: {detail}"
            ) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise LabelStudioError(f"cannot reach Label Studio at {self.url}: {reason}") from None
        try:
            return json.loads(text) if text else None
        except ValueError:
            raise LabelStudioError(
                f"{method} {path} did not answer JSON; is {self.url} a Label Studio server?"
            ) from None

    # ---- projects ------------------------------------------------------------------------

    def project(self, project_id: int) -> dict[str, Any] | None:
        """A project, or None when it no longer exists."""
        try:
            return dict(self.call("GET", f"/api/projects/{project_id}"))
        except LabelStudioError as exc:
            if "answered 404" in str(exc):
                return None
            raise

    def create_project(self, title: str, label_config: str, description: str) -> dict[str, Any]:
        body = {"title": title, "label_config": label_config, "description": description}
        return dict(self.call("POST", "/api/projects", body))

    def update_project(self, project_id: int, changes: dict[str, Any]) -> dict[str, Any]:
        return dict(self.call("PATCH", f"/api/projects/{project_id}", changes))

    # ---- tasks and annotations -----------------------------------------------------------

    def tasks(self, project_id: int) -> Iterator[dict[str, Any]]:
        """Every task of a project (id and data), page by page."""
        page = 1
        while True:
            try:
                answer = self.call("GET", "/api/tasks", project=project_id, page=page, page_size=PAGE)
            except LabelStudioError as exc:
                if "answered 404" in str(exc):  # past the last page
                    return
                raise
            found = answer.get("tasks", []) if isinstance(answer, dict) else answer
            yield from found
            if len(found) < PAGE:
                return
            page += 1

    def import_tasks(self, project_id: int, tasks: list[dict[str, Any]]) -> int:
        """Create tasks (with their predictions); returns how many Label Studio made."""
        answer = self.call("POST", f"/api/projects/{project_id}/import", tasks)
        return int(answer.get("task_count", 0))

    def export(self, project_id: int) -> list[dict[str, Any]]:
        """Every task that has annotations, with them, as Label Studio's JSON export."""
        return list(self.call("GET", f"/api/projects/{project_id}/export", exportType="JSON"))

    def users(self) -> dict[int, str]:
        """The email of every user, by id."""
        return {int(u["id"]): str(u.get("email") or u["id"]) for u in self.call("GET", "/api/users")}

    # ---- storage, webhooks, ML backends --------------------------------------------------

    def local_storages(self, project_id: int) -> list[dict[str, Any]]:
        return list(self.call("GET", "/api/storages/localfiles", project=project_id))

    def add_local_storage(self, project_id: int, path: str, title: str) -> dict[str, Any]:
        """A Local Files storage over ``path``: Label Studio serves a local file only to a
        project with a storage covering its folder. Never synced: tasks come from activecv."""
        body = {"project": project_id, "path": path, "title": title, "use_blob_urls": True}
        return dict(self.call("POST", "/api/storages/localfiles", body))

    def webhooks(self, project_id: int) -> list[dict[str, Any]]:
        return list(self.call("GET", "/api/webhooks", project=project_id))

    def add_webhook(self, body: dict[str, Any]) -> dict[str, Any]:
        return dict(self.call("POST", "/api/webhooks", body))

    def update_webhook(self, webhook_id: int, changes: dict[str, Any]) -> dict[str, Any]:
        return dict(self.call("PATCH", f"/api/webhooks/{webhook_id}", changes))

    def ml_backends(self, project_id: int) -> list[dict[str, Any]]:
        return list(self.call("GET", "/api/ml", project=project_id))

    def add_ml_backend(self, body: dict[str, Any]) -> dict[str, Any]:
        return dict(self.call("POST", "/api/ml", body))
