//! A small MCP server built with rmcp, for tests and the local stack: an
//! "orders" service with a few tools, served over streamable HTTP and,
//! when given a token, only to requests that carry it as a bearer token.
//! It stands in for the third-party MCP servers workspaces register.

use std::{sync::Arc, time::Duration};

use axum::{
    extract::{Request, State},
    http::{header, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    Router,
};
use rmcp::{
    handler::server::{router::tool::ToolRouter, wrapper::Parameters},
    model::{ServerCapabilities, ServerInfo},
    schemars, tool, tool_handler, tool_router,
    transport::streamable_http_server::{
        session::local::LocalSessionManager, StreamableHttpServerConfig, StreamableHttpService,
    },
    Json, ServerHandler,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct AddRequest {
    /// The first number
    pub a: f64,
    /// The second number
    pub b: f64,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderRequest {
    /// An order id such as "A-1001"
    pub order_id: String,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    pub order_id: String,
    pub status: String,
    pub total_cents: u64,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct WaitRequest {
    /// Seconds to wait (at most 120)
    pub seconds: u64,
}

/// The orders service.
#[derive(Debug, Clone)]
pub struct Orders {
    tool_router: ToolRouter<Self>,
}

impl Default for Orders {
    fn default() -> Self {
        Self::new()
    }
}

#[tool_router]
impl Orders {
    pub fn new() -> Self {
        Self {
            tool_router: Self::tool_router(),
        }
    }

    #[tool(description = "Add two numbers")]
    fn add(&self, Parameters(AddRequest { a, b }): Parameters<AddRequest>) -> String {
        (a + b).to_string()
    }

    #[tool(description = "Look up an order by id: its status and total")]
    fn get_order(
        &self,
        Parameters(OrderRequest { order_id }): Parameters<OrderRequest>,
    ) -> Result<Json<Order>, String> {
        let n: u64 = order_id
            .strip_prefix("A-")
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| format!("no order {order_id:?}; order ids look like A-1001"))?;
        let status = ["received", "packed", "shipped", "delivered"][(n % 4) as usize];
        Ok(Json(Order {
            order_id,
            status: status.to_owned(),
            total_cents: n * 7 % 10_000,
        }))
    }

    #[tool(description = "Wait some seconds, then answer")]
    async fn wait(&self, Parameters(WaitRequest { seconds }): Parameters<WaitRequest>) -> String {
        tokio::time::sleep(Duration::from_secs(seconds.min(120))).await;
        format!("waited {seconds} s")
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Orders {
    fn get_info(&self) -> ServerInfo {
        ServerInfo::new(ServerCapabilities::builder().enable_tools().build())
            .with_instructions("A demo orders service")
    }
}

async fn require_token(State(token): State<Arc<String>>, request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if given != Some(token.as_str()) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer realm=\"orders\"")],
            "a bearer token is needed",
        )
            .into_response();
    }
    next.run(request).await
}

/// The server at `/mcp`; with `token`, every request must carry it.
pub fn router(token: Option<String>) -> Router {
    let service: StreamableHttpService<Orders, LocalSessionManager> = StreamableHttpService::new(
        || Ok(Orders::new()),
        Default::default(),
        StreamableHttpServerConfig::default().disable_allowed_hosts(),
    );
    let app = Router::new().nest_service("/mcp", service);
    match token {
        Some(t) => app.layer(middleware::from_fn_with_state(Arc::new(t), require_token)),
        None => app,
    }
}
