//! The connection store on DynamoDB (template.yaml's `ConnectionsTable`).
//!
//! One table, two item kinds under the connection id (`pk`):
//! - `sk = "#conn"`: the connection (`userId`, `connectedAt`, `sessionId`,
//!   `expiresAt`), found by user through the `byUser` index;
//! - `sk = <topic>`: a subscription (`topic`, `cursor`), found by topic through
//!   the `byTopic` index.
//!
//! Every item carries `ttl` (a little over API Gateway's 2-hour limit), so a
//! connection whose `$disconnect` never arrived disappears by itself. The
//! delivery cursor moves with a conditional update.

use std::collections::HashMap;

use aws_sdk_dynamodb::{types::AttributeValue, Client};
use uuid::Uuid;

use super::{Connection, ConnectionStore, CONNECTION_TTL_SECONDS};
use crate::future::BoxFuture;

pub const CONNECTION_SK: &str = "#conn";
pub const BY_TOPIC: &str = "byTopic";
pub const BY_USER: &str = "byUser";

#[derive(Debug, Clone)]
pub struct DynamoConnections {
    client: Client,
    table: String,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn key(id: &str, sk: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([("pk".to_owned(), s(id)), ("sk".to_owned(), s(sk))])
}

fn ttl() -> i64 {
    chrono::Utc::now().timestamp() + CONNECTION_TTL_SECONDS
}

impl DynamoConnections {
    /// Every item's sort key under a connection: `#conn` and its topics.
    async fn sort_keys(&self, id: &str) -> anyhow::Result<Vec<String>> {
        let mut keys = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(id))
                .projection_expression("sk")
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await?;
            keys.extend(
                page.items()
                    .iter()
                    .filter_map(|i| i.get("sk")?.as_s().ok().cloned()),
            );
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => return Ok(keys),
            }
        }
    }

    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub fn from_config(sdk: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        Self::new(Client::new(sdk), table)
    }

    /// Every `pk` of an index query, across pages.
    async fn query_keys(
        &self,
        index: &str,
        attr: &str,
        value: String,
    ) -> anyhow::Result<Vec<String>> {
        let mut out = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index)
                .key_condition_expression("#a = :v")
                .expression_attribute_names("#a", attr)
                .expression_attribute_values(":v", s(value.clone()))
                .set_exclusive_start_key(start.take())
                .send()
                .await?;
            out.extend(
                page.items()
                    .iter()
                    .filter_map(|i| i.get("pk")?.as_s().ok().cloned()),
            );
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => return Ok(out),
            }
        }
    }
}

impl ConnectionStore for DynamoConnections {
    fn put(&self, c: Connection) -> BoxFuture<'_, anyhow::Result<()>> {
        Box::pin(async move {
            let mut item = key(&c.id, CONNECTION_SK);
            item.insert("userId".into(), s(c.user_id.to_string()));
            item.insert("connectedAt".into(), n(c.connected_at));
            item.insert("sessionId".into(), s(c.session_id.to_string()));
            item.insert("expiresAt".into(), n(c.expires_at));
            item.insert("ttl".into(), n(ttl()));
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .send()
                .await?;
            Ok(())
        })
    }

    fn get(&self, id: String) -> BoxFuture<'_, anyhow::Result<Option<Connection>>> {
        Box::pin(async move {
            let out = self
                .client
                .get_item()
                .table_name(&self.table)
                .set_key(Some(key(&id, CONNECTION_SK)))
                .consistent_read(true)
                .send()
                .await?;
            Ok(out.item().and_then(|i| {
                Some(Connection {
                    id: id.clone(),
                    user_id: i.get("userId")?.as_s().ok()?.parse().ok()?,
                    connected_at: i.get("connectedAt")?.as_n().ok()?.parse().ok()?,
                    // Stored before connections carried their credentials:
                    // no session, expired (the next sweep closes it).
                    session_id: i
                        .get("sessionId")
                        .and_then(|v| v.as_s().ok())
                        .and_then(|v| v.parse().ok())
                        .unwrap_or_default(),
                    expires_at: i
                        .get("expiresAt")
                        .and_then(|v| v.as_n().ok())
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0),
                })
            }))
        })
    }

    fn remove(&self, id: String) -> BoxFuture<'_, anyhow::Result<()>> {
        Box::pin(async move {
            for sk in self.sort_keys(&id).await? {
                self.client
                    .delete_item()
                    .table_name(&self.table)
                    .set_key(Some(key(&id, &sk)))
                    .send()
                    .await?;
            }
            Ok(())
        })
    }

    fn subscribe(
        &self,
        id: String,
        topic: String,
        cursor: i64,
    ) -> BoxFuture<'_, anyhow::Result<()>> {
        Box::pin(async move {
            let mut item = key(&id, &topic);
            item.insert("topic".into(), s(topic.clone()));
            item.insert("cursor".into(), n(cursor));
            item.insert("ttl".into(), n(ttl()));
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .send()
                .await?;
            Ok(())
        })
    }

    fn unsubscribe(&self, id: String, topic: String) -> BoxFuture<'_, anyhow::Result<()>> {
        Box::pin(async move {
            self.client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(key(&id, &topic)))
                .send()
                .await?;
            Ok(())
        })
    }

    fn subscribers(&self, topic: String) -> BoxFuture<'_, anyhow::Result<Vec<String>>> {
        Box::pin(async move { self.query_keys(BY_TOPIC, "topic", topic).await })
    }

    fn subscriptions(&self, id: String) -> BoxFuture<'_, anyhow::Result<Vec<String>>> {
        Box::pin(async move {
            let mut topics = self.sort_keys(&id).await?;
            topics.retain(|sk| sk != CONNECTION_SK);
            Ok(topics)
        })
    }

    fn connections_of(&self, user_id: Uuid) -> BoxFuture<'_, anyhow::Result<Vec<String>>> {
        Box::pin(async move {
            self.query_keys(BY_USER, "userId", user_id.to_string())
                .await
        })
    }

    fn cursor(&self, id: String, topic: String) -> BoxFuture<'_, anyhow::Result<Option<i64>>> {
        Box::pin(async move {
            let out = self
                .client
                .get_item()
                .table_name(&self.table)
                .set_key(Some(key(&id, &topic)))
                .consistent_read(true)
                .send()
                .await?;
            Ok(out
                .item()
                .and_then(|i| i.get("cursor")?.as_n().ok()?.parse().ok()))
        })
    }

    fn advance(
        &self,
        id: String,
        topic: String,
        from: i64,
        to: i64,
    ) -> BoxFuture<'_, anyhow::Result<bool>> {
        Box::pin(async move {
            let updated = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(&id, &topic)))
                .update_expression("SET #c = :to")
                .condition_expression("#c = :from")
                .expression_attribute_names("#c", "cursor")
                .expression_attribute_values(":to", n(to))
                .expression_attribute_values(":from", n(from))
                .send()
                .await;
            match updated {
                Ok(_) => Ok(true),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
                {
                    Ok(false)
                }
                Err(e) => Err(e.into()),
            }
        })
    }
}
