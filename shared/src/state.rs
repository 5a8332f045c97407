//! The state every handler can reach. Built once per process (per Lambda cold
//! start) and cloned per request: all fields are cheap handles.

use std::sync::Arc;

use axum::extract::FromRef;
use sqlx::PgPool;

use crate::{auth::TokenKeys, pipeline::Pipeline, settings::Settings};

#[derive(Debug, Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub db: PgPool,
    pub tokens: Arc<TokenKeys>,
    /// The execution pipeline's ports; `None` in functions that do not run executions.
    pub pipeline: Option<Arc<Pipeline>>,
}

impl AppState {
    pub fn new(settings: Settings, db: PgPool) -> Self {
        let tokens = Arc::new(TokenKeys::new(&settings.auth));
        Self {
            settings: Arc::new(settings),
            db,
            tokens,
            pipeline: None,
        }
    }

    /// The same state with the execution pipeline.
    pub fn with_pipeline(mut self, pipeline: Arc<Pipeline>) -> Self {
        self.pipeline = Some(pipeline);
        self
    }
}

impl FromRef<AppState> for PgPool {
    fn from_ref(s: &AppState) -> Self {
        s.db.clone()
    }
}

impl FromRef<AppState> for Arc<TokenKeys> {
    fn from_ref(s: &AppState) -> Self {
        s.tokens.clone()
    }
}

impl FromRef<AppState> for Arc<Settings> {
    fn from_ref(s: &AppState) -> Self {
        s.settings.clone()
    }
}
