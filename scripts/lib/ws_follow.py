"""Follows a run live over the local WebSocket gateway, as a client would:
connect with the access token, start the run, see it queued on the user's
topic, subscribe to it, drop the connection mid-run, reconnect with `after`,
and check the events are complete, ordered and free of duplicates, ending in
`execution:completed`. Used by scripts/smoke.

usage: ws_follow.py BASE_URL ACCESS_TOKEN WORKFLOW_ID
"""
import asyncio
import json
import sys
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


def start_run(base, token, workflow):
    req = urllib.request.Request(
        f"{base}/api/v1/workflows/{workflow}/execute", data=b"{}", method="POST",
        headers={"authorization": f"Bearer {token}", "content-type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read())["id"]


async def main(base, token, workflow):
    url = base.replace("http://", "ws://", 1) + "/ws?token=" + token
    try:
        async with websockets.connect(base.replace("http://", "ws://", 1) + "/ws"):
            raise SystemExit("FAIL: a connection without a token was accepted")
    except websockets.exceptions.InvalidStatus as e:
        assert e.response.status_code == 401, e.response.status_code
    print("  ok  a WebSocket without a token is refused (401)")

    async with websockets.connect(url) as ws:
        run = start_run(base, token, workflow)
        await frames_until(ws, lambda f: f.get("type") == "execution:queued" and f.get("executionId") == run)
        print("  ok  the user's topic announces the run as queued")
        await ws.send(json.dumps({"action": "subscribe", "topic": f"execution:{run}", "after": 0}))
        before = await frames_until(ws, lambda f: f.get("event", {}).get("type") == "node_started"
                                    and f["event"].get("node") == "wait")
    # The run's numbered frames (the workspace's activity is numbered on its own topic).
    seen = [f["seq"] for f in before if "seq" in f and "executionId" in f]
    await asyncio.sleep(1)
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"action": "subscribe", "topic": f"execution:{run}", "after": seen[-1]}))
        after = await frames_until(ws, lambda f: f.get("type") == "execution:completed")
    seen += [f["seq"] for f in after if "seq" in f and "executionId" in f]
    assert seen == list(range(1, len(seen) + 1)), f"gap or duplicate: {seen}"
    assert after[-1]["status"] == "completed", after[-1]
    kinds = [f["event"]["type"] for f in before + after if "event" in f]
    assert kinds[0] == "run_started" and kinds[-2:] == ["run_finished", "execution_ended"], kinds
    print(f"  ok  the run is seen live to completed across a reconnect: {len(seen)} events, none missed or repeated")


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
