// A small client of the SaasIt API, typed only by the OpenAPI document:
// `generated/api.d.ts` comes from /api/v1/openapi.json (openapi-typescript).
// If the document stops describing what a client needs (a field renamed, a
// body no longer accepted, a status undeclared), this stops type-checking.
import createClient from "openapi-fetch";
import type { components, paths } from "../generated/api";

type Schemas = components["schemas"];
export type Execution = Schemas["ExecutionView"];
export type Workflow = Schemas["WorkflowView"];
export type ApiErrorBody = Schemas["ErrorEnvelope"];

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: ApiErrorBody | undefined,
  ) {
    super(body ? `${body.error.code}: ${body.error.message}` : `HTTP ${status}`);
  }
}

export function connect(baseUrl: string) {
  return createClient<paths>({ baseUrl });
}

type Client = ReturnType<typeof connect>;

/** Signs in; later requests carry the access token. */
export async function logIn(api: Client, email: string, password: string): Promise<Schemas["AuthResponse"]> {
  const { data, error, response } = await api.POST("/api/v1/auth/login", {
    body: { email, password },
  });
  if (!data) throw new ApiError(response.status, error);
  const token = data.accessToken;
  api.use({
    onRequest({ request }) {
      request.headers.set("Authorization", `Bearer ${token}`);
      return request;
    },
  });
  return data;
}

/** A published two-node workflow: a trigger, then one agent. */
export async function createWorkflow(api: Client, name: string, agentId: string): Promise<Workflow> {
  const canvas = {
    nodes: [
      { id: "start", type: "trigger", config: {} },
      { id: "write", type: "agent", config: { agentId, prompt: "Write about {{inputs.topic}}" } },
    ],
    edges: [{ source: "start", target: "write" }],
  };
  const created = await api.POST("/api/v1/workflows", {
    body: { name, tags: ["example"], canvas },
  });
  if (!created.data) throw new ApiError(created.response.status, created.error);
  const published = await api.PATCH("/api/v1/workflows/{id}/status", {
    params: { path: { id: created.data.id } },
    body: { status: "published", baseVersion: created.data.version },
  });
  if (!published.data) throw new ApiError(published.response.status, published.error);
  return published.data;
}

/** Starts a run once, however often it is retried (one Idempotency-Key). */
export async function startRun(
  api: Client,
  workflowId: string,
  inputs: Record<string, unknown>,
  idempotencyKey: string,
): Promise<Execution> {
  const { data, error, response } = await api.POST("/api/v1/executions", {
    params: { header: { "Idempotency-Key": idempotencyKey } },
    body: { workflowId, inputs },
  });
  if (!data) throw new ApiError(response.status, error);
  const status: Schemas["ExecutionStatus"] = data.status;
  console.log(`run ${data.id} is ${status}`);
  return data;
}

/** The first agent of the built-in catalogue. */
export async function anyAgent(api: Client): Promise<string> {
  const { data, error, response } = await api.GET("/api/v1/agents", {
    params: { query: { scope: "builtin", limit: 1 } },
  });
  const first = data?.items[0];
  if (!first) throw new ApiError(response.status, error);
  return first.id;
}
