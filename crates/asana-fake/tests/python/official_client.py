"""A scenario with Asana's official Python client (asana 5.4.0) against asana-fake.

Run by tests/official_client.rs with BASE_URL, TOKEN, WORKSPACE and PROJECT in the
environment. Every call must succeed and return what Asana documents; any exception fails the
scenario (exit 1) with the call named.
"""

import os
import sys

import asana
from asana.rest import ApiException

base_url = os.environ["BASE_URL"]
token = os.environ["TOKEN"]
workspace = os.environ["WORKSPACE"]
project = os.environ["PROJECT"]

configuration = asana.Configuration()
configuration.host = base_url
configuration.access_token = token
client = asana.ApiClient(configuration)

tasks = asana.TasksApi(client)
sections = asana.SectionsApi(client)
stories = asana.StoriesApi(client)
tags = asana.TagsApi(client)
users = asana.UsersApi(client)
projects = asana.ProjectsApi(client)
events = asana.EventsApi(client)
batch = asana.BatchAPIApi(client)


def step(name, fn):
    try:
        return fn()
    except ApiException as e:
        print(f"FAILED {name}: {e.status} {e.body}", file=sys.stderr)
        sys.exit(1)


def check(name, ok, detail):
    if not ok:
        print(f"FAILED {name}: {detail}", file=sys.stderr)
        sys.exit(1)


me = step("get_user me", lambda: users.get_user("me", {"opt_fields": "email,name"}))
check("get_user me", me.get("gid"), me)

p = step("get_project", lambda: projects.get_project(project, {"opt_fields": "name,workspace"}))
check("get_project", p["workspace"]["gid"] == workspace, p)

# Events: the first call without a token answers 412 with a fresh sync token.
sync = None
try:
    events.get_events(project, {}, full_payload=True)
    check("get_events without sync", False, "expected 412")
except ApiException as e:
    check("get_events without sync", e.status == 412, e)
    import json

    sync = json.loads(e.body)["sync"]

section = step(
    "create_section_for_project",
    lambda: sections.create_section_for_project(project, {"body": {"data": {"name": "Triaged"}}}),
)
listed = list(step("get_sections_for_project", lambda: sections.get_sections_for_project(project, {"opt_fields": "name"})))
check("get_sections_for_project", any(s["gid"] == section["gid"] for s in listed), listed)

tag = step(
    "create_tag_for_workspace",
    lambda: tags.create_tag_for_workspace({"data": {"name": "priority:high"}}, workspace, {}),
)

task = step(
    "create_task",
    lambda: tasks.create_task(
        {"data": {"name": "From the official client", "notes": "hello", "projects": [project]}},
        {"opt_fields": "name,notes,completed"},
    ),
)
check("create_task", task["name"] == "From the official client" and task["notes"] == "hello", task)
gid = task["gid"]

step("add_task_for_section", lambda: sections.add_task_for_section(section["gid"], {"body": {"data": {"task": gid}}}))
step("add_tag_for_task", lambda: tasks.add_tag_for_task({"data": {"tag": tag["gid"]}}, gid))
updated = step(
    "update_task",
    lambda: tasks.update_task({"data": {"name": "Renamed", "completed": True}}, gid, {"opt_fields": "name,completed"}),
)
check("update_task", updated["name"] == "Renamed" and updated["completed"] is True, updated)

story = step(
    "create_story_for_task",
    lambda: stories.create_story_for_task({"data": {"text": "a comment"}}, gid, {"opt_fields": "text,created_by"}),
)
check("create_story_for_task", story["text"] == "a comment", story)
read = list(step("get_stories_for_task", lambda: stories.get_stories_for_task(gid, {"opt_fields": "text,type,resource_subtype"})))
check("get_stories_for_task", any(s.get("text") == "a comment" for s in read), read)

got = step(
    "get_task",
    lambda: tasks.get_task(gid, {"opt_fields": "name,completed,memberships.section.name,tags.name"}),
)
check("get_task section", any(m["section"]["gid"] == section["gid"] for m in got["memberships"]), got)
check("get_task tag", [t["name"] for t in got["tags"]] == ["priority:high"], got)

listed = list(
    step("get_tasks_for_project", lambda: tasks.get_tasks_for_project(project, {"opt_fields": "name", "limit": 100}))
)
check("get_tasks_for_project", any(t["gid"] == gid for t in listed), listed)

answer = step(
    "create_batch_request",
    lambda: list(batch.create_batch_request(
        {"data": {"actions": [{"method": "get", "relative_path": f"/tasks/{gid}", "options": {"fields": ["name"]}}]}},
        {},
    )),
)
check("create_batch_request", answer[0]["status_code"] == 200 and answer[0]["body"]["data"]["name"] == "Renamed", answer)

# The client's own iterator over events (it adds `limit` and follows `sync`).
changes = step("get_events with sync", lambda: list(events.get_events(project, {"sync": sync})))
check("get_events with sync", len(changes) > 0, changes)

step("delete_task", lambda: tasks.delete_task(gid))
try:
    tasks.get_task(gid, {})
    check("get deleted task", False, "expected 404")
except ApiException as e:
    check("get deleted task", e.status == 404, e)

print("official client scenario passed")
