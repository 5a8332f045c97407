//! The agents function: `/api/v1/agents` — the built-in catalogue and users'
//! own agents (private or public) — and `/api/v1/tools` — a chat with the
//! workspace's model, web search and web read, outside any workflow — and
//! `/api/v1/mcp/servers` — the MCP servers a workspace's agents may use —
//! and `/api/v1/workflows/{id}/chat` — the design assistant (also the
//! WebSocket API's `chat` action, [`chat_ws`]).

mod agent_test;
mod chat_dto;
mod chat_prompt;
mod chat_routes;
mod chat_stream;
mod chat_turn;
pub mod chat_ws;
mod design_dev;
mod dto;
mod graph_change;
mod handlers;
mod mcp_dto;
mod mcp_servers;
mod tool_dto;
mod tool_routes;

use axum::Router;
use shared::AppState;
use utoipa_axum::{router::OpenApiRouter, routes};

pub use dto::{AgentPage, AgentScope, AgentView};

/// The routes of this function with their OpenAPI description, state not yet applied.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(handlers::list, handlers::create))
        .routes(routes!(
            handlers::get,
            handlers::update,
            handlers::replace,
            handlers::delete
        ))
        .routes(routes!(agent_test::test))
        .routes(routes!(mcp_servers::list, mcp_servers::create))
        .routes(routes!(
            mcp_servers::get,
            mcp_servers::update,
            mcp_servers::delete
        ))
        .routes(routes!(mcp_servers::connect))
        .routes(routes!(mcp_servers::disconnect))
        .routes(routes!(mcp_servers::tools))
        .routes(routes!(tool_routes::chat))
        .routes(routes!(tool_routes::web_search))
        .routes(routes!(tool_routes::web_read))
        .routes(routes!(chat_routes::send, chat_routes::list))
        .routes(routes!(chat_routes::get))
        .routes(routes!(chat_routes::apply))
        .routes(routes!(chat_routes::reject))
}

/// The function as deployed on its own: routes, state and the common layers.
pub fn app(state: AppState) -> Router {
    let settings = state.settings.clone();
    let (router, _) = routes().with_state(state).split_for_parts();
    shared::http::apply_layers(router, &settings.http)
}
