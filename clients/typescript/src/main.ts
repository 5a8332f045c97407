// The example a new user would write: sign in, create a workflow, run it.
import { anyAgent, connect, createWorkflow, logIn, startRun } from "./client";

const api = connect("http://127.0.0.1:3000");
await logIn(api, "ada@example.com", "correct horse 9");
const workflow = await createWorkflow(api, "Research brief", await anyAgent(api));
const run = await startRun(api, workflow.id, { topic: "tide pools" }, crypto.randomUUID());
console.log(`workflow ${workflow.id} version ${workflow.version}; run ${run.id} queued`);
