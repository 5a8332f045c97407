"""Two members of a team workspace, live over the local WebSocket gateway: the
viewer follows the workspace and opens a workflow, the editor opens it too
(both see each other present), the editor runs it, and the viewer watches
the run start and finish on the workspace's topic; the viewer's own attempt
to run it is refused (403). Used by scripts/smoke.

usage: team_watch.py BASE_URL VIEWER_TOKEN EDITOR_TOKEN WORKSPACE_ID WORKFLOW_ID
"""
import asyncio
import json
import sys
import urllib.error
import urllib.request

import websockets


async def frames_until(ws, done, limit=60):
    """Messages until one satisfies `done`; a `batch` frame's one by one."""
    seen = []
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=limit))
        for message in frame["messages"] if frame.get("type") == "batch" else [frame]:
            seen.append(message)
            if done(message):
                return seen


def execute(base, token, workspace, workflow):
    req = urllib.request.Request(
        f"{base}/api/v1/workflows/{workflow}/execute", data=b"{}", method="POST",
        headers={"authorization": f"Bearer {token}", "content-type": "application/json",
                 "x-workspace-id": workspace})
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


async def main(base, viewer, editor, workspace, workflow):
    ws_url = base.replace("http://", "ws://", 1) + "/ws?token="
    async with websockets.connect(ws_url + viewer) as v, websockets.connect(ws_url + editor) as e:
        await v.send(json.dumps({"action": "subscribe", "topic": f"workspace:{workspace}"}))
        await frames_until(v, lambda f: f.get("type") == "subscribed")
        await v.send(json.dumps({"action": "subscribe", "topic": f"workflow:{workflow}"}))
        await frames_until(v, lambda f: f.get("type") == "workflow:presence" and len(f["present"]) == 1)
        await e.send(json.dumps({"action": "subscribe", "topic": f"workflow:{workflow}"}))
        await frames_until(v, lambda f: f.get("type") == "workflow:presence" and len(f["present"]) == 2)
        print("  ok  the viewer sees the editor open the workflow (workflow:presence)")

        status, body = execute(base, viewer, workspace, workflow)
        assert status == 403 and body["error"]["code"] == "FORBIDDEN", (status, body)
        print("  ok  the viewer may not run it (403 FORBIDDEN)")
        status, body = execute(base, editor, workspace, workflow)
        assert status == 202, (status, body)
        run = body["id"]
        seen = await frames_until(v, lambda f: f.get("type") == "execution:completed"
                                  and f.get("executionId") == run)
        started = [f for f in seen if f.get("type") == "workspace:activity"
                   and f["activity"]["action"] == "run.started" and f["activity"]["resourceId"] == run]
        assert started, seen
        assert seen[-1]["status"] == "completed", seen[-1]
        print("  ok  the viewer watches the editor's run start and complete live on the workspace's topic")


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:6]))
