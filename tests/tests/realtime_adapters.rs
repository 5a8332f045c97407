//! Contract tests of the real-time ports: the connection store in memory and
//! on DynamoDB (moto), and the push port on the Management API (moto, plus a
//! double that answers 410 Gone, which moto never does).

use std::sync::Arc;

use axum::{http::StatusCode, routing::post, Router};
use saasit_tests::moto::Moto;
use shared::realtime::{
    apigw::ManagementApiPusher,
    closing,
    dynamo::{DynamoConnections, BY_TOPIC, BY_USER},
    memory::MemoryConnections,
    CloseReason, Connection, ConnectionStore, PushError, Pusher, Realtime,
};
use uuid::Uuid;

async fn store_contract(store: &dyn ConnectionStore) {
    let (u1, u2) = (Uuid::now_v7(), Uuid::now_v7());
    let session = Uuid::now_v7();
    let conn = |id: &str, user| Connection {
        id: id.into(),
        user_id: user,
        connected_at: 1_700_000_000,
        session_id: session,
        expires_at: 1_700_000_900,
    };
    for c in [conn("A=", u1), conn("B=", u1), conn("C=", u2)] {
        store.put(c).await.expect("put");
    }
    assert_eq!(
        store.get("A=".into()).await.expect("get"),
        Some(conn("A=", u1))
    );
    assert_eq!(store.get("Z=".into()).await.expect("get"), None);
    let t = "execution:0193".to_owned();
    store
        .subscribe("A=".into(), t.clone(), 5)
        .await
        .expect("subscribe");
    store
        .subscribe("B=".into(), t.clone(), 0)
        .await
        .expect("subscribe");
    store
        .subscribe("C=".into(), "user:other".into(), 0)
        .await
        .expect("subscribe");

    let mut subs = store.subscribers(t.clone()).await.expect("subscribers");
    subs.sort();
    assert_eq!(subs, vec!["A=".to_owned(), "B=".to_owned()]);
    let mut mine = store.connections_of(u1).await.expect("by user");
    mine.sort();
    assert_eq!(mine, vec!["A=".to_owned(), "B=".to_owned()]);
    // A connection's own topics (what a removed member's connections drop).
    store
        .subscribe("A=".into(), "workspace:w1".into(), 0)
        .await
        .expect("subscribe");
    let mut topics = store
        .subscriptions("A=".into())
        .await
        .expect("subscriptions");
    topics.sort();
    assert_eq!(topics, vec![t.clone(), "workspace:w1".to_owned()]);
    store
        .unsubscribe("A=".into(), "workspace:w1".into())
        .await
        .expect("unsubscribe");
    assert_eq!(
        store
            .subscriptions("A=".into())
            .await
            .expect("subscriptions"),
        vec![t.clone()]
    );
    assert!(store
        .subscriptions("Z=".into())
        .await
        .expect("none")
        .is_empty());

    // The cursor moves by compare-and-set only.
    assert_eq!(
        store.cursor("A=".into(), t.clone()).await.expect("cursor"),
        Some(5)
    );
    assert!(store
        .advance("A=".into(), t.clone(), 5, 6)
        .await
        .expect("advance"));
    assert!(!store
        .advance("A=".into(), t.clone(), 5, 7)
        .await
        .expect("stale advance"));
    assert_eq!(
        store.cursor("A=".into(), t.clone()).await.expect("cursor"),
        Some(6)
    );
    // Re-subscribing resets it.
    store
        .subscribe("A=".into(), t.clone(), 2)
        .await
        .expect("resubscribe");
    assert_eq!(
        store.cursor("A=".into(), t.clone()).await.expect("cursor"),
        Some(2)
    );

    store
        .unsubscribe("B=".into(), t.clone())
        .await
        .expect("unsubscribe");
    assert_eq!(
        store.subscribers(t.clone()).await.expect("subs"),
        vec!["A=".to_owned()]
    );
    assert_eq!(
        store.cursor("B=".into(), t.clone()).await.expect("cursor"),
        None
    );

    store.remove("A=".into()).await.expect("remove");
    store
        .remove("A=".into())
        .await
        .expect("removing twice is fine");
    assert!(store.subscribers(t.clone()).await.expect("subs").is_empty());
    assert!(store
        .subscriptions("A=".into())
        .await
        .expect("gone")
        .is_empty());
    assert_eq!(store.get("A=".into()).await.expect("get"), None);
    assert!(!store
        .advance("A=".into(), t, 2, 3)
        .await
        .expect("advance on a gone subscription"));
    assert_eq!(
        store.connections_of(u1).await.expect("by user"),
        vec!["B=".to_owned()]
    );
}

async fn connections_table(moto: &Moto) -> DynamoConnections {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
        Projection, ProjectionType, ScalarAttributeType,
    };
    let client = aws_sdk_dynamodb::Client::new(&moto.sdk);
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .expect("attr")
    };
    let key = |n: &str, k: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(k)
            .build()
            .expect("key")
    };
    let keys_only = Projection::builder()
        .projection_type(ProjectionType::KeysOnly)
        .build();
    client
        .create_table()
        .table_name("connections")
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("pk"))
        .attribute_definitions(attr("sk"))
        .attribute_definitions(attr("topic"))
        .attribute_definitions(attr("userId"))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(BY_TOPIC)
                .key_schema(key("topic", KeyType::Hash))
                .key_schema(key("pk", KeyType::Range))
                .projection(keys_only.clone())
                .build()
                .expect("gsi"),
        )
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(BY_USER)
                .key_schema(key("userId", KeyType::Hash))
                .projection(keys_only)
                .build()
                .expect("gsi"),
        )
        .send()
        .await
        .expect("table");
    DynamoConnections::from_config(&moto.sdk, "connections")
}

#[tokio::test]
async fn connection_store_contract_memory_and_dynamodb() {
    store_contract(&MemoryConnections::default()).await;
    let moto = Moto::start().await;
    store_contract(&connections_table(&moto).await).await;
}

/// A Management API double: every connection is gone.
async fn gone_api() -> String {
    let app = Router::new().route(
        "/@connections/{id}",
        post(|| async { (StatusCode::GONE, r#"{"message":"GoneException"}"#) })
            .delete(|| async { (StatusCode::GONE, r#"{"message":"GoneException"}"#) }),
    );
    saasit_tests::serve(app).await
}

#[tokio::test]
async fn pushes_reach_the_management_api_and_gone_connections_are_removed() {
    let moto = Moto::start().await;
    let pusher = ManagementApiPusher::from_config(&moto.sdk, &moto.url);
    pusher
        .push("Abc123=".into(), r#"{"type":"pong"}"#.into())
        .await
        .expect("moto accepts PostToConnection");

    pusher
        .close("Abc123=".into(), CloseReason::TokenExpired)
        .await
        .expect("moto accepts DeleteConnection");

    let gone = ManagementApiPusher::from_config(&moto.sdk, &gone_api().await);
    assert!(matches!(
        gone.push("Stale1=".into(), "{}".into()).await,
        Err(PushError::Gone)
    ));
    assert!(matches!(
        gone.close("Stale1=".into(), CloseReason::SessionRevoked)
            .await,
        Err(PushError::Gone)
    ));

    // Through Realtime: a 410 removes the connection from the store (DynamoDB here).
    let store = Arc::new(connections_table(&moto).await);
    store
        .put(Connection {
            id: "Stale1=".into(),
            user_id: Uuid::now_v7(),
            connected_at: 0,
            session_id: Uuid::now_v7(),
            expires_at: 900,
        })
        .await
        .expect("put");
    store
        .subscribe("Stale1=".into(), "execution:x".into(), 0)
        .await
        .expect("subscribe");
    let rt = Realtime::new(store.clone(), Arc::new(gone));
    assert!(!rt.push("Stale1=", "{}".into()).await);
    assert_eq!(store.get("Stale1=".into()).await.expect("get"), None);
    assert!(store
        .subscribers("execution:x".into())
        .await
        .expect("subs")
        .is_empty());
}

/// A push port that records what it was asked to do.
#[derive(Default)]
struct Recorder {
    log: std::sync::Mutex<Vec<(String, String)>>,
}

impl Recorder {
    fn log(&self) -> Vec<(String, String)> {
        self.log.lock().expect("log").clone()
    }
}

impl Pusher for Recorder {
    fn push(
        &self,
        connection_id: String,
        frame: String,
    ) -> shared::future::BoxFuture<'_, Result<(), PushError>> {
        self.log.lock().expect("log").push((connection_id, frame));
        Box::pin(async { Ok(()) })
    }

    fn close(
        &self,
        connection_id: String,
        reason: CloseReason,
    ) -> shared::future::BoxFuture<'_, Result<(), PushError>> {
        self.log
            .lock()
            .expect("log")
            .push((connection_id, format!("close {}", reason.code())));
        Box::pin(async { Ok(()) })
    }
}

/// Connections end with their credentials, on either store: expired ones
/// (by their expiry bucket) and a revoked session's, each with a `closing`
/// frame, a close and no trace in the store; renewed ones live on.
async fn closing_contract(store: Arc<dyn ConnectionStore>) {
    let now = 1_800_000_000_i64;
    let (user, session, other_session) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let conn = |id: &str, sid, expires_at| Connection {
        id: id.into(),
        user_id: user,
        connected_at: now - 3600,
        session_id: sid,
        expires_at,
    };
    let recorder = Arc::new(Recorder::default());
    let rt = Realtime::new(store.clone(), recorder.clone());
    // Expired an hour ago, a second ago, now; alive for a minute; renewed.
    let all = [
        conn("Old=", session, now - 3600),
        conn("Just=", other_session, now - 1),
        conn("Now=", other_session, now),
        conn("Live=", other_session, now + 60),
        conn("Renewed=", other_session, now - 10),
    ];
    for c in &all {
        store.put(c.clone()).await.expect("put");
        closing::bind(&rt, c).await.expect("bind");
    }
    let renewed = Connection {
        session_id: session,
        expires_at: now + 900,
        ..all[4].clone()
    };
    closing::rebind(&rt, &all[4], renewed.clone())
        .await
        .expect("rebind");
    assert_eq!(
        store.get("Renewed=".into()).await.expect("get"),
        Some(renewed)
    );

    assert_eq!(closing::close_expired(&rt, now).await.expect("sweep"), 3);
    let mut closed: Vec<String> = recorder
        .log()
        .into_iter()
        .filter(|(_, what)| what.starts_with("close"))
        .map(|(id, what)| {
            assert_eq!(what, "close 4001");
            id
        })
        .collect();
    closed.sort();
    assert_eq!(closed, vec!["Just=", "Now=", "Old="]);
    for (id, frame) in recorder.log().iter().filter(|(_, f)| f.starts_with('{')) {
        let f: serde_json::Value = serde_json::from_str(frame).expect("json");
        assert_eq!(f["type"], "closing", "{id}");
        assert_eq!(f["reason"], "token_expired", "{id}");
    }
    for id in ["Old=", "Just=", "Now="] {
        assert_eq!(store.get(id.into()).await.expect("get"), None, "{id}");
    }
    // Sweeping again closes nothing more.
    assert_eq!(closing::close_expired(&rt, now).await.expect("sweep"), 0);

    // Revoking the session closes the renewed connection (it moved there),
    // and not the one still on the other session.
    assert_eq!(
        closing::close_session(&rt, session).await.expect("revoke"),
        1
    );
    assert_eq!(store.get("Renewed=".into()).await.expect("get"), None);
    assert!(store.get("Live=".into()).await.expect("get").is_some());
    assert_eq!(
        closing::close_session(&rt, other_session)
            .await
            .expect("revoke"),
        1
    );
    assert_eq!(store.get("Live=".into()).await.expect("get"), None);
}

#[tokio::test]
async fn connections_end_with_their_credentials_memory_and_dynamodb() {
    closing_contract(Arc::new(MemoryConnections::default())).await;
    let moto = Moto::start().await;
    closing_contract(Arc::new(connections_table(&moto).await)).await;
}
