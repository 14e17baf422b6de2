"""Small in-memory GitLab and Bitbucket Cloud APIs behind httpx.MockTransport: the endpoints
Baryon uses, answered in the shapes their documentation gives (neither publishes an OpenAPI
description that the GitHub tests' oracle could use)."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import httpx


@dataclass
class FakeMergeRequest:
    number: int
    head: str
    base: str
    title: str
    description: str
    state: str  # the forge's own word
    merge_sha: str | None = None


@dataclass
class FakeForge:
    """What both fakes share: repositories with branches, pull requests, and the requests."""

    token: str
    default_branches: dict[str, str] = field(default_factory=dict)
    branches: dict[str, set[str]] = field(default_factory=dict)
    pulls: dict[str, list[FakeMergeRequest]] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)

    def add_repository(self, name: str, *branches: str, default: str = "main") -> None:
        self.default_branches[name] = default
        self.branches[name] = {default, *branches}
        self.pulls[name] = []

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self._handle)

    def posts(self) -> int:
        return sum(request.method == "POST" for request in self.requests)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handle(request)

    def handle(self, request: httpx.Request) -> httpx.Response:
        raise NotImplementedError


class FakeGitLab(FakeForge):
    """GitLab's REST API v4 under https://gitlab.example.com/api/v4."""

    # How many coming merge request lists answer empty, as a list that has not yet caught up
    # with another worker's create would.
    lagging_lists: int = 0

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.headers.get("private-token") != self.token:
            return httpx.Response(401, json={"message": "401 Unauthorized"})
        raw = request.url.raw_path.decode().split("?")[0]
        matched = re.fullmatch(r"/api/v4/projects/([^/]+)(/merge_requests(?:/(\d+))?)?", raw)
        if matched is None or "%2F" not in matched[1]:  # the path must come URL-encoded
            return httpx.Response(404, json={"error": "404 Not Found"})
        project = unquote(matched[1])
        if project not in self.default_branches:
            return httpx.Response(404, json={"message": "404 Project Not Found"})
        if matched[2] is None:
            return httpx.Response(
                200,
                json={
                    "id": 42,
                    "path_with_namespace": project,
                    "default_branch": self.default_branches[project],
                    "web_url": f"https://gitlab.example.com/{project}",
                },
            )
        pulls = self.pulls[project]
        if matched[3] is None and request.method == "GET":
            if self.lagging_lists:
                self.lagging_lists -= 1
                return httpx.Response(200, json=[])
            params = request.url.params
            found = [
                self._json(project, mr)
                for mr in pulls
                if mr.state == params.get("state", mr.state)
                and mr.head == params.get("source_branch", mr.head)
                and mr.base == params.get("target_branch", mr.base)
            ]
            return httpx.Response(200, json=found)
        if matched[3] is None and request.method == "POST":
            data = json.loads(request.content)
            if data["source_branch"] not in self.branches[project]:
                return httpx.Response(
                    400, json={"message": ["Source branch does not exist", "Validate branches"]}
                )
            for mr in pulls:
                if mr.state == "opened" and (mr.head, mr.base) == (
                    data["source_branch"],
                    data["target_branch"],
                ):
                    return httpx.Response(
                        409,
                        json={
                            "message": [
                                "Another open merge request already exists for this source "
                                f"branch: !{mr.number}"
                            ]
                        },
                    )
            created = FakeMergeRequest(
                len(pulls) + 1,
                data["source_branch"],
                data["target_branch"],
                data["title"],
                data.get("description", ""),
                "opened",
            )
            pulls.append(created)
            return httpx.Response(201, json=self._json(project, created))
        chosen = next((m for m in pulls if m.number == int(matched[3] or 0)), None)
        if chosen is None:
            return httpx.Response(404, json={"message": "404 Not found"})
        mr = chosen
        if request.method == "PUT" and json.loads(request.content).get("state_event") == "close":
            mr.state = "closed"
        return httpx.Response(200, json=self._json(project, mr))

    def merge(self, project: str, number: int, sha: str) -> None:
        mr = self.pulls[project][number - 1]
        mr.state, mr.merge_sha = "merged", sha

    @staticmethod
    def _json(project: str, mr: FakeMergeRequest) -> dict[str, Any]:
        return {
            "id": 1000 + mr.number,
            "iid": mr.number,
            "project_id": 42,
            "title": mr.title,
            "description": mr.description,
            "state": mr.state,
            "source_branch": mr.head,
            "target_branch": mr.base,
            "web_url": f"https://gitlab.example.com/{project}/-/merge_requests/{mr.number}",
            "sha": "f" * 40,
            "merge_commit_sha": mr.merge_sha,
            "squash_commit_sha": None,
        }


class FakeBitbucket(FakeForge):
    """Bitbucket Cloud's REST API 2.0 under https://api.bitbucket.example/2.0."""

    username: str = "builder"
    app_password: str = ""

    def handle(self, request: httpx.Request) -> httpx.Response:
        if not self._authorized(request.headers.get("authorization", "")):
            return httpx.Response(401, json={"type": "error", "error": {"message": "Unauthorized"}})
        matched = re.fullmatch(
            r"/2\.0/repositories/([^/]+)/([^/]+)(/pullrequests(?:/(\d+)(/decline)?)?)?",
            request.url.path,
        )
        if matched is None:
            return httpx.Response(404, json={"type": "error", "error": {"message": "Not found"}})
        name = f"{matched[1]}/{matched[2]}"
        if name not in self.default_branches:
            return httpx.Response(
                404,
                json={
                    "type": "error",
                    "error": {"message": f"Repository {name} not found"},
                },
            )
        if matched[3] is None:
            return httpx.Response(
                200,
                json={
                    "full_name": name,
                    "mainbranch": {"type": "branch", "name": self.default_branches[name]},
                },
            )
        pulls = self.pulls[name]
        if matched[4] is None and request.method == "GET":
            query = request.url.params.get("q", "")
            wanted = dict(re.findall(r'(source|destination)\.branch\.name = "([^"]*)"', query))
            values = [
                self._json(name, pr)
                for pr in pulls
                if pr.state == request.url.params.get("state", pr.state)
                and pr.head == wanted.get("source", pr.head)
                and pr.base == wanted.get("destination", pr.base)
            ]
            return httpx.Response(
                200, json={"pagelen": 50, "size": len(values), "page": 1, "values": values}
            )
        if matched[4] is None and request.method == "POST":
            data = json.loads(request.content)
            head = data["source"]["branch"]["name"]
            if head not in self.branches[name]:
                return httpx.Response(
                    400,
                    json={
                        "type": "error",
                        "error": {
                            "message": "source: Branch not found",
                            "fields": {"source": ["Branch not found"]},
                        },
                    },
                )
            created = FakeMergeRequest(
                len(pulls) + 1,
                head,
                data["destination"]["branch"]["name"],
                data["title"],
                data.get("description", ""),
                "OPEN",
            )
            pulls.append(created)
            return httpx.Response(201, json=self._json(name, created))
        pr = next((p for p in pulls if p.number == int(matched[4])), None)
        if pr is None:
            return httpx.Response(
                404, json={"type": "error", "error": {"message": "Pull request not found"}}
            )
        if matched[5] and request.method == "POST":
            pr.state = "DECLINED"
        return httpx.Response(200, json=self._json(name, pr))

    def merge(self, name: str, number: int, sha: str) -> None:
        pr = self.pulls[name][number - 1]
        pr.state, pr.merge_sha = "MERGED", sha

    def _authorized(self, header: str) -> bool:
        if header == f"Bearer {self.token}":
            return True
        if header.startswith("Basic ") and self.app_password:
            expected = f"{self.username}:{self.app_password}".encode()
            return base64.b64decode(header[6:]) == expected
        return False

    @staticmethod
    def _json(name: str, pr: FakeMergeRequest) -> dict[str, Any]:
        return {
            "type": "pullrequest",
            "id": pr.number,
            "title": pr.title,
            "description": pr.description,
            "state": pr.state,
            "source": {"branch": {"name": pr.head}, "commit": {"hash": "e" * 12}},
            "destination": {"branch": {"name": pr.base}, "commit": {"hash": "d" * 12}},
            "merge_commit": {"hash": pr.merge_sha} if pr.merge_sha else None,
            "links": {
                "html": {"href": f"https://bitbucket.example/{name}/pull-requests/{pr.number}"}
            },
        }
