//! Migrations once per deploy: the migration function as CloudFormation
//! calls it (a custom resource), against a real database and a local
//! stand-in for CloudFormation's presigned response URL.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use aws_lambda_events::event::cloudformation::CloudFormationCustomResourceRequest as Request;
use axum::{extract::State, http::StatusCode, routing::put, Router};
use migrate::{handle, Migrate, PHYSICAL_ID};
use saasit_tests::{create_database, json};
use secrecy::SecretString;
use serde_json::Value;
use shared::db::roles::AppRole;
use sqlx::{Connection, Executor, PgConnection};

#[derive(Clone, Default)]
struct Responses {
    got: Arc<Mutex<Vec<Value>>>,
    /// Answer 500 to this many PUTs first (CloudFormation's URL is S3: it can fail).
    fail_first: Arc<Mutex<u32>>,
}

async fn cloudformation() -> (String, Responses) {
    let r = Responses::default();
    let app = Router::new()
        .route(
            "/response",
            put(|State(r): State<Responses>, body: String| async move {
                {
                    let mut fail = r.fail_first.lock().expect("lock");
                    if *fail > 0 {
                        *fail -= 1;
                        return StatusCode::INTERNAL_SERVER_ERROR;
                    }
                }
                r.got
                    .lock()
                    .expect("lock")
                    .push(serde_json::from_str(&body).expect("JSON"));
                StatusCode::OK
            }),
        )
        .with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/response", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, r)
}

fn request(kind: &str, url: &str) -> Request {
    let mut r = json!({
        "RequestType": kind,
        "ServiceToken": "arn:aws:lambda:eu-west-1:123456789012:function:saasit-migrate",
        "ResponseURL": url,
        "StackId": "arn:aws:cloudformation:eu-west-1:123456789012:stack/saasit/1",
        "RequestId": format!("req-{kind}"),
        "ResourceType": "Custom::Migrations",
        "LogicalResourceId": "Migrations",
        "ResourceProperties": {"ServiceToken": "x", "CodeVersion": "7"},
    });
    if kind != "Create" {
        r["PhysicalResourceId"] = json!(PHYSICAL_ID);
    }
    if kind == "Update" {
        r["OldResourceProperties"] = json!({"ServiceToken": "x", "CodeVersion": "6"});
    }
    serde_json::from_value(r).expect("a CloudFormation request")
}

fn migrate_with(pool: Result<sqlx::PgPool, String>, app_role: Option<AppRole>) -> Migrate {
    Migrate {
        pool,
        app_role,
        work_limit: Duration::from_secs(60),
        http: reqwest::Client::new(),
    }
}

fn pool(url: &str) -> sqlx::PgPool {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(3))
        .connect_lazy(url)
        .expect("pool")
}

/// `url` signed in as `user` instead.
fn as_user(url: &str, user: &str) -> String {
    let rest = url.strip_prefix("postgres://").expect("a postgres URL");
    let host = rest.split_once('@').map_or(rest, |(_, h)| h);
    format!("postgres://{user}@{host}")
}

#[tokio::test]
async fn a_deploy_migrates_once_and_the_functions_role_has_data_rights_only() {
    let (name, url) = create_database().await;
    let (cfn, responses) = cloudformation().await;
    let role = format!("app_{}", &name[5..17]);
    let m = migrate_with(
        Ok(pool(&url)),
        Some(AppRole {
            name: role.clone(),
            password: Some(SecretString::from("it's a pass'word".to_owned())),
        }),
    );
    // CloudFormation's URL fails once: the answer is sent again.
    *responses.fail_first.lock().expect("lock") = 1;
    handle(&m, request("Create", &cfn)).await.expect("answered");
    // A redeploy (new code) runs it again: nothing pending, grants re-applied.
    handle(&m, request("Update", &cfn)).await.expect("answered");
    let got = responses.got.lock().expect("lock").clone();
    assert_eq!(got.len(), 2, "{got:?}");
    let latest: i64 = sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations")
        .fetch_one(&pool(&url))
        .await
        .expect("migrated");
    for (r, id) in got.iter().zip(["req-Create", "req-Update"]) {
        assert_eq!(r["Status"], "SUCCESS", "{r}");
        assert_eq!(r["PhysicalResourceId"], PHYSICAL_ID);
        assert_eq!(r["RequestId"], id);
        assert_eq!(r["LogicalResourceId"], "Migrations");
        assert_eq!(r["Data"]["Version"], latest.to_string());
    }

    // Its password is stored as the SCRAM verifier the function made, never sent in clear.
    let stored: String = sqlx::query_scalar("SELECT rolpassword FROM pg_authid WHERE rolname = $1")
        .bind(&role)
        .fetch_one(&pool(&url))
        .await
        .expect("a password");
    assert!(stored.starts_with("SCRAM-SHA-256$4096:"), "{stored}");
    let holds_rds_iam: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
           JOIN pg_roles u ON u.oid = m.member WHERE g.rolname = 'rds_iam' AND u.rolname = $1)",
    )
    .bind(&role)
    .fetch_one(&pool(&url))
    .await
    .expect("membership");
    assert!(!holds_rds_iam, "the proxy signs in with the password");

    // The functions' role: reads and writes data, changes no schema, and
    // cannot touch the migration history.
    let mut app = PgConnection::connect(&as_user(&url, &role))
        .await
        .expect("the role signs in");
    let id = uuid::Uuid::now_v7();
    app.execute(
        sqlx::query(
            "INSERT INTO users (id, email, password_hash, name) VALUES ($1, $2, NULL, 'x')",
        )
        .bind(id)
        .bind(format!("{id}@example.com")),
    )
    .await
    .expect("data rights");
    let refused = |e: sqlx::Error| {
        e.as_database_error()
            .and_then(|d| d.code())
            .map(|c| c.into_owned())
    };
    let e = app
        .execute("CREATE TABLE sneaky (x int)")
        .await
        .expect_err("no DDL");
    assert_eq!(refused(e).as_deref(), Some("42501"), "permission denied");
    let e = app
        .execute("ALTER TABLE users ADD COLUMN sneaky int")
        .await
        .expect_err("no DDL");
    assert_eq!(refused(e).as_deref(), Some("42501"));
    let e = app
        .execute("DELETE FROM _sqlx_migrations")
        .await
        .expect_err("history is the migrator's");
    assert_eq!(refused(e).as_deref(), Some("42501"));
    app.close().await.ok();

    // Deleting the stack leaves the data alone.
    handle(&m, request("Delete", &cfn)).await.expect("answered");
    assert_eq!(responses.got.lock().expect("lock")[2]["Status"], "SUCCESS");
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&pool(&url))
        .await
        .expect("still there");
    assert_eq!(users, 1);

    let admin = pool(&url);
    for q in [
        format!("DROP OWNED BY \"{role}\""),
        format!("DROP ROLE \"{role}\""),
    ] {
        let _ = sqlx::query(&q).execute(&admin).await;
    }
}

#[tokio::test]
async fn a_failed_migration_fails_the_deploy_with_the_reason() {
    let (cfn, responses) = cloudformation().await;
    // The database cannot be reached (nothing listens there).
    let dead = pool("postgres://postgres@127.0.0.1:9/none");
    let m = migrate_with(Ok(dead), None);
    handle(&m, request("Update", &cfn)).await.expect("answered");
    // A role name that is not a plain identifier is refused before any SQL.
    let (_, url) = create_database().await;
    let m = migrate_with(
        Ok(pool(&url)),
        Some(AppRole {
            name: "app\"; DROP DATABASE x; --".into(),
            password: None,
        }),
    );
    handle(&m, request("Create", &cfn)).await.expect("answered");
    // The pool could not even be built (a bad URL).
    let m = migrate_with(Err("invalid DATABASE_URL".into()), None);
    handle(&m, request("Create", &cfn)).await.expect("answered");
    // Deleting never needs the database.
    handle(&m, request("Delete", &cfn)).await.expect("answered");

    let got = responses.got.lock().expect("lock").clone();
    assert_eq!(got.len(), 4);
    assert_eq!(got[0]["Status"], "FAILED");
    assert!(
        got[0]["Reason"]
            .as_str()
            .expect("ok")
            .starts_with("migrations failed"),
        "{}",
        got[0]
    );
    assert_eq!(got[1]["Status"], "FAILED");
    assert!(
        got[1]["Reason"]
            .as_str()
            .expect("ok")
            .contains("must be a plain identifier"),
        "{}",
        got[1]
    );
    assert_eq!(got[2]["Status"], "FAILED");
    assert!(
        got[2]["Reason"]
            .as_str()
            .expect("ok")
            .contains("the migration function cannot start: invalid DATABASE_URL"),
        "{}",
        got[2]
    );
    assert_eq!(got[3]["Status"], "SUCCESS");
}
