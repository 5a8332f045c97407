//! The push port on API Gateway's Management API: `PostToConnection` at the
//! WebSocket stage's endpoint (`https://{api}.execute-api.{region}.amazonaws.com/{stage}`).
//! A `GoneException` (410) means the client left: the caller removes it.
//! `DeleteConnection` closes a connection from the server's side.

use aws_sdk_apigatewaymanagement::{primitives::Blob, Client};

use super::{CloseReason, PushError, Pusher};
use crate::future::BoxFuture;

#[derive(Debug, Clone)]
pub struct ManagementApiPusher {
    client: Client,
}

impl ManagementApiPusher {
    /// `endpoint`: the stage URL (`WS_MANAGEMENT_ENDPOINT`).
    pub fn from_config(sdk: &aws_config::SdkConfig, endpoint: &str) -> Self {
        let config = aws_sdk_apigatewaymanagement::config::Builder::from(sdk)
            .endpoint_url(endpoint)
            .build();
        Self {
            client: Client::from_conf(config),
        }
    }
}

/// A Management API failure as a push error: `GoneException`, or a bare 410
/// (what a proxy in front of the endpoint answers), is `Gone`.
fn push_error(gone: bool, e: impl Into<anyhow::Error>) -> PushError {
    if gone {
        PushError::Gone
    } else {
        PushError::Failed(e.into())
    }
}

impl Pusher for ManagementApiPusher {
    fn push(&self, connection_id: String, frame: String) -> BoxFuture<'_, Result<(), PushError>> {
        Box::pin(async move {
            let sent = self
                .client
                .post_to_connection()
                .connection_id(connection_id)
                .data(Blob::new(frame.into_bytes()))
                .send()
                .await;
            sent.map(drop).map_err(|e| {
                let gone = e.as_service_error().is_some_and(|s| s.is_gone_exception())
                    || e.raw_response().is_some_and(|r| r.status().as_u16() == 410);
                push_error(gone, e)
            })
        })
    }

    fn close(
        &self,
        connection_id: String,
        _reason: CloseReason,
    ) -> BoxFuture<'_, Result<(), PushError>> {
        // API Gateway closes with its own code; the reason went out in the
        // `closing` frame before.
        Box::pin(async move {
            let deleted = self
                .client
                .delete_connection()
                .connection_id(connection_id)
                .send()
                .await;
            deleted.map(drop).map_err(|e| {
                let gone = e.as_service_error().is_some_and(|s| s.is_gone_exception())
                    || e.raw_response().is_some_and(|r| r.status().as_u16() == 410);
                push_error(gone, e)
            })
        })
    }
}
