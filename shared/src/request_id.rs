//! The id of the request a task is handling: set by the HTTP layer
//! ([`crate::http`]), read by error rendering ([`crate::error`]) and logs.

tokio::task_local! {
    /// The id of the request being handled. Task-local because a handler and
    /// its error rendering run inside the middleware's future on the same task,
    /// on Lambda as well as under the local server.
    pub static CURRENT_REQUEST_ID: String;
}

/// The id of the request this task is handling, if any.
pub fn current_request_id() -> Option<String> {
    CURRENT_REQUEST_ID.try_with(Clone::clone).ok()
}
