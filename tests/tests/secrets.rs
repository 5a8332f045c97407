//! The secret source contract, in memory and on Secrets Manager (moto): the
//! environment names secrets by ARN (`NAME_FROM_SECRET=arn#key`), the values are
//! read at run time, and a rotation is seen at the next read.

use std::collections::HashMap;

use saasit_tests::moto::Moto;
use shared::secrets::{aws::SecretsManager, MemorySecrets, Resolved, SecretSource};

/// Puts `value` as the secret's current version; its ARN.
type Put<'a> = Box<
    dyn Fn(&'a str, &'a str) -> std::pin::Pin<Box<dyn std::future::Future<Output = String> + 'a>>
        + 'a,
>;

async fn contract(source: &dyn SecretSource, put: Put<'_>) {
    let arn = put(
        "saasit/app",
        r#"{"key":"first-signing-key-0123456789abcdef","url":"postgres://u:p@db/saasit"}"#,
    )
    .await;
    let env = HashMap::from([
        ("JWT_SECRET_FROM_SECRET".to_owned(), format!("{arn}#key")),
        ("DATABASE_URL_FROM_SECRET".to_owned(), format!("{arn}#url")),
        ("SECRETS_REFRESH_SECONDS".to_owned(), "0".to_owned()),
    ]);
    let first = Resolved::load(env.clone(), source).await.expect("read");
    assert_eq!(
        first.values["JWT_SECRET"],
        "first-signing-key-0123456789abcdef"
    );
    assert_eq!(first.values["DATABASE_URL"], "postgres://u:p@db/saasit");
    assert!(first.stale(), "a zero refresh period is due at once");
    let mut names: Vec<&str> = first.secret_names().collect();
    names.sort_unstable();
    assert_eq!(names, ["DATABASE_URL", "JWT_SECRET"]);

    // Unchanged: no rebuild. Rotated: the new value, seen as a change.
    let again = Resolved::load(env.clone(), source).await.expect("read");
    assert!(!first.changed(&again));
    let arn2 = put(
        "saasit/app",
        r#"{"key":"rotated-signing-key-0123456789abcdef","url":"postgres://u:p@db/saasit"}"#,
    )
    .await;
    assert_eq!(arn, arn2, "the same secret, a new version");
    let rotated = Resolved::load(env, source).await.expect("read");
    assert_eq!(
        rotated.values["JWT_SECRET"],
        "rotated-signing-key-0123456789abcdef"
    );
    assert!(first.changed(&rotated));

    // A missing secret is an error naming the variable.
    let env = HashMap::from([(
        "STRIPE_SECRET_KEY_FROM_SECRET".to_owned(),
        format!(
            "{}-missing#secret_key",
            arn.trim_end_matches(|c: char| c != ':')
        ),
    )]);
    let e = Resolved::load(env, source)
        .await
        .expect_err("no such secret");
    assert!(
        e.to_string()
            .starts_with("STRIPE_SECRET_KEY_FROM_SECRET: cannot read the secret"),
        "{e}"
    );
}

#[tokio::test]
async fn secret_source_contract_in_memory() {
    let memory = MemorySecrets::default();
    let m = &memory;
    contract(
        m,
        Box::new(move |name, value| {
            Box::pin(async move {
                let arn = format!("arn:aws:secretsmanager:us-east-1:123456789012:secret:{name}");
                m.put(&arn, value);
                arn
            })
        }),
    )
    .await;
}

#[tokio::test]
async fn secret_source_contract_on_secrets_manager() {
    let moto = Moto::start().await;
    let client = moto.secrets();
    let source = SecretsManager::from_config(&moto.sdk);
    let c = &client;
    contract(
        &source,
        Box::new(move |name, value| {
            Box::pin(async move {
                match c.describe_secret().secret_id(name).send().await {
                    Ok(found) => {
                        c.put_secret_value()
                            .secret_id(name)
                            .secret_string(value)
                            .send()
                            .await
                            .expect("put a new version");
                        found.arn.expect("arn")
                    }
                    Err(_) => c
                        .create_secret()
                        .name(name)
                        .secret_string(value)
                        .send()
                        .await
                        .expect("create")
                        .arn
                        .expect("arn"),
                }
            })
        }),
    )
    .await;
}
